"""The Judge's spans: one CONSUMER span per Result, with the commit as its child.

A Judge works in batches, but each Result belongs to its own task's trace: the batch gets
one span per Result, each continuing the ``traceparent`` its entry carried (the Worker's
span), and one ``commit`` span per Result around the batch's atomic apply.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Sequence
from types import TracebackType
from typing import TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind

from chimera.models.result import Result
from chimera.ports.judge import CommitOutcome, Judged
from chimera.ports.queue import Delivery
from chimera.telemetry import names
from chimera.telemetry.spans import carry, consumer_attributes, failed
from chimera.telemetry.tracing import extract, state, unsampled

R = TypeVar("R")


class NoJudgeSpans:
    """What :func:`judging` gives while tracing is off: every step passes straight through."""

    def __enter__(self) -> NoJudgeSpans:
        return self

    def __exit__(
        self,
        _kind: type[BaseException] | None,
        error: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        return None

    async def decide(self, _index: int, decision: Awaitable[R]) -> R:
        """Await ``decision``."""
        return await decision

    def decided(self, judged: list[Judged]) -> list[Judged]:
        """Return ``judged`` as it is."""
        return judged

    async def commit(self, applying: Awaitable[list[CommitOutcome]]) -> list[CommitOutcome]:
        """Await ``applying``."""
        return await applying


NO_JUDGE_SPANS = NoJudgeSpans()


class JudgeSpans(NoJudgeSpans):
    """The spans of one Judge batch, ended when the ``with`` block ends."""

    def __init__(self, deliveries: Sequence[Delivery[Result]], consumer: str) -> None:
        tracer = state.tracer
        assert tracer is not None  # built by judging() only while tracing is on
        self._tracer = tracer
        # None where the Result's trace was dropped where it started: it stays dropped.
        self._spans: list[Span | None] = []
        for delivery in deliveries:
            if unsampled(delivery.traceparent):
                self._spans.append(None)
                continue
            span = tracer.start_span(
                names.SPAN_PROCESS_RESULT,
                context=extract(delivery.traceparent),
                kind=SpanKind.CONSUMER,
                attributes=consumer_attributes(delivery, "results", "judges", consumer),
            )
            result = delivery.message
            if result is not None:
                span.set_attributes(
                    {
                        names.TASK_ID: result.task_id,
                        names.SESSION: result.session,
                        names.SKILL: result.skill,
                        names.ATTEMPT: result.attempt,
                    }
                )
            else:
                failed(span, "undecodable", "the result entry could not be decoded")
            self._spans.append(span)

    def __exit__(
        self,
        _kind: type[BaseException] | None,
        error: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        for span in self._spans:
            if span is None:
                continue
            if error is not None:
                failed(span, type(error).__name__, str(error))
            span.end()

    async def decide(self, index: int, decision: Awaitable[R]) -> R:
        """Await ``decision`` with Result ``index``'s span current (policies may nest)."""
        span = self._spans[index]
        if span is None:
            return await decision
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            return await decision
        finally:
            otel_context.detach(token)

    def decided(self, judged: list[Judged]) -> list[Judged]:
        """Record each verdict; a retry's next attempt continues from the Judge's span."""
        out = []
        for span, item in zip(self._spans, judged, strict=True):
            decision = item.decision
            if span is None:
                out.append(item)  # a retry carries the dropped trace's context on as it came
                continue
            if decision is not None:
                span.set_attributes(
                    {
                        names.VERDICT: decision.verdict.value,
                        names.CONFIDENCE: decision.confidence,
                        names.POLICY: decision.policy,
                    }
                )
                if state.capture_content:
                    span.set_attribute(names.REASON, decision.reason)
            if item.retry_task is not None:
                item = dataclasses.replace(item, delivery=carry(item.delivery, span))
            out.append(item)
        return out

    async def commit(self, applying: Awaitable[list[CommitOutcome]]) -> list[CommitOutcome]:
        """Await the batch's apply inside one ``commit`` span per Result; record outcomes."""
        commits = [
            None
            if span is None
            else self._tracer.start_span(names.SPAN_COMMIT, context=trace.set_span_in_context(span))
            for span in self._spans
        ]
        try:
            outcomes = await applying
        except BaseException as error:
            for commit in commits:
                if commit is not None:
                    failed(commit, type(error).__name__, str(error))
                    commit.end()
            raise
        for commit, span, outcome in zip(commits, self._spans, outcomes, strict=True):
            if commit is None or span is None:
                continue
            commit.set_attribute(names.COMMIT_OUTCOME, outcome.value)
            span.set_attribute(names.COMMIT_OUTCOME, outcome.value)
            commit.end()
        return outcomes


def judging(deliveries: Sequence[Delivery[Result]], consumer: str) -> NoJudgeSpans:
    """The spans of a Judge batch.

    A pass-through while tracing is off, or when every Result's trace was dropped where it
    started.
    """
    if state.tracer is None or all(unsampled(d.traceparent) for d in deliveries):
        return NO_JUDGE_SPANS
    return JudgeSpans(deliveries, consumer)
