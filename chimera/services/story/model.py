"""A task's whole story, as ``chimera task show`` tells it: the parts and their JSON shape.

Everything here is plain data assembled by :mod:`chimera.services.story.build` from the
audit trail and the stored records; :meth:`TaskStory.as_json` is the documented ``--json``
shape (``specs/001-observable-mcp-swarm/contracts/cli.md``), versioned by
:data:`STORY_VERSION`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from chimera.models.types import JsonValue

#: Version of the ``--json`` shape; raised when a field changes meaning or goes away.
STORY_VERSION = 1


def iso(at: datetime | None) -> str | None:
    """``at`` as ISO 8601 text (``None`` stays ``None``)."""
    return at.isoformat() if at is not None else None


@dataclass
class ToolCallStep:
    """One tool call of an attempt, as the Worker audited it (no argument values kept)."""

    call_id: str | None
    server: str | None
    tool: str | None
    arguments_digest: str | None
    duration_ms: float | None
    result_chars: int | None
    is_error: bool
    error: str | None
    at: datetime

    def as_json(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "call_id": self.call_id,
            "server": self.server,
            "tool": self.tool,
            "arguments_digest": self.arguments_digest,
            "duration_ms": self.duration_ms,
            "result_chars": self.result_chars,
            "is_error": self.is_error,
            "error": self.error,
            "at": iso(self.at),
        }


@dataclass
class Verdict:
    """The Judge's decision on one attempt."""

    verdict: str
    reason: str | None
    policy: str | None
    confidence: float | None
    thresholds: JsonValue
    actor: str
    at: datetime
    process: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "verdict": self.verdict,
            "reason": self.reason,
            "policy": self.policy,
            "confidence": self.confidence,
            "thresholds": self.thresholds,
            "actor": self.actor,
            "process": self.process,
            "at": iso(self.at),
        }


@dataclass
class HumanStep:
    """A reviewer's decision (on a Result, or on sensitive tool calls that waited)."""

    actor: str
    at: datetime
    verdict: str | None
    note: str | None
    retry: bool
    kind: str
    tools: list[str]
    attempt: int | None

    def as_json(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "actor": self.actor,
            "at": iso(self.at),
            "verdict": self.verdict,
            "note": self.note,
            "retry": self.retry,
            "kind": self.kind,
            "tools": self.tools,
            "attempt": self.attempt,
        }


@dataclass
class Attempt:
    """One attempt of the task: what it was asked, what it answered, how it ended.

    ``replay`` counts dead-letter replays before it (a replay starts again at attempt 1).
    """

    number: int
    replay: int = 0
    worker: str | None = None
    queued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    deliveries: int | None = None
    reclaimed: int = 0
    status: str | None = None
    prompt: str | None = None
    output: JsonValue = None
    output_excerpt: str | None = None
    answer: str | None = None
    error: str | None = None
    error_kind: str | None = None
    confidence: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost: float | None = None
    run_ms: float | None = None
    tool_calls: list[ToolCallStep] = field(default_factory=list)
    parked_for: list[str] = field(default_factory=list)
    judge: Verdict | None = None
    judged_at: datetime | None = None
    ended: str | None = None
    ended_by: str | None = None
    ended_at: datetime | None = None
    feedback: str | None = None

    def timings_ms(self) -> dict[str, float | None]:
        """Per stage: waiting in the queue, running on a Worker, waiting for the Judge."""
        finished = self.finished_at
        if finished is None and self.started_at is not None and self.run_ms is not None:
            finished = _plus_ms(self.started_at, self.run_ms)
        return {
            "queued": _ms(self.queued_at, self.started_at),
            "run": self.run_ms,
            "judge": _ms(finished, self.judged_at),
        }

    def as_json(self) -> dict[str, Any]:
        """The JSON form."""
        tokens = None
        if self.input_tokens is not None or self.output_tokens is not None:
            tokens = {"input": self.input_tokens or 0, "output": self.output_tokens or 0}
        return {
            "attempt": self.number,
            "replay": self.replay,
            "worker": self.worker,
            "queued_at": iso(self.queued_at),
            "started_at": iso(self.started_at),
            "deliveries": self.deliveries,
            "reclaimed": self.reclaimed,
            "status": self.status,
            "prompt": self.prompt,
            "output": self.output,
            "output_excerpt": self.output_excerpt,
            "answer": self.answer,
            "error": self.error,
            "error_kind": self.error_kind,
            "confidence": self.confidence,
            "tokens": tokens,
            "cost": self.cost,
            "tool_calls": [call.as_json() for call in self.tool_calls],
            "parked_for": self.parked_for,
            "judge": self.judge.as_json() if self.judge else None,
            "ended": self.ended,
            "ended_by": self.ended_by,
            "ended_at": iso(self.ended_at),
            "feedback": self.feedback,
            "timings_ms": self.timings_ms(),
        }


@dataclass
class Ending:
    """How the task ended (or is held): committed, dead-lettered, cancelled.

    ``by`` is the actor (``judge``, ``worker:NAME``, ``human:NAME``); ``process`` names the
    Judge process that did it, when the trail says.
    """

    at: datetime | None
    by: str | None
    attempt: int | None = None
    reason: str | None = None
    error: str | None = None
    in_queue: bool | None = None
    process: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "at": iso(self.at),
            "by": self.by,
            "process": self.process,
            "attempt": self.attempt,
            "reason": self.reason,
            "error": self.error,
            "in_queue": self.in_queue,
        }


@dataclass
class Waiting:
    """The review item the task waits in: a Result to judge, or tool calls to approve."""

    kind: str
    reason: str | None
    since: datetime | None
    attempt: int | None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "kind": self.kind,
            "reason": self.reason,
            "since": iso(self.since),
            "attempt": self.attempt,
            "tool_calls": self.tool_calls,
        }


@dataclass
class Event:
    """One line of the timeline: an audit event in short."""

    at: datetime
    type: str
    actor: str
    attempt: int | None
    summary: str

    def as_json(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "at": iso(self.at),
            "type": self.type,
            "actor": self.actor,
            "attempt": self.attempt,
            "summary": self.summary,
        }


@dataclass
class TaskStory:
    """Everything known about one task, oldest first."""

    task_id: str
    tenant: str
    state: str
    session: str | None = None
    skill: str | None = None
    trace_id: str | None = None
    input: JsonValue = None
    input_excerpt: str | None = None
    max_attempts: int | None = None
    submitted_at: datetime | None = None
    pipeline: dict[str, JsonValue] | None = None
    attempts: list[Attempt] = field(default_factory=list)
    waiting: Waiting | None = None
    human: list[HumanStep] = field(default_factory=list)
    commit: Ending | None = None
    dead_letter: Ending | None = None
    cancellation: Ending | None = None
    events: list[Event] = field(default_factory=list)
    currency: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ended_at(self) -> datetime | None:
        """When the task reached its outcome (``None`` while it has none)."""
        for ending in (self.commit, self.dead_letter, self.cancellation):
            if ending is not None and ending.at is not None:
                return ending.at
        last = self.attempts[-1] if self.attempts else None
        if self.state == "denied" and last is not None:
            return last.ended_at
        return None

    def as_json(self) -> dict[str, Any]:
        """The documented ``--json`` shape."""
        return {
            "version": STORY_VERSION,
            "task_id": self.task_id,
            "tenant": self.tenant,
            "state": self.state,
            "session": self.session,
            "skill": self.skill,
            "trace_id": self.trace_id,
            "input": self.input,
            "input_excerpt": self.input_excerpt,
            "max_attempts": self.max_attempts,
            "submitted_at": iso(self.submitted_at),
            "ended_at": iso(self.ended_at),
            "total_ms": _ms(self.submitted_at, self.ended_at),
            "pipeline": self.pipeline,
            "currency": self.currency,
            "attempts": [attempt.as_json() for attempt in self.attempts],
            "review": self.waiting.as_json() if self.waiting else None,
            "human_decisions": [step.as_json() for step in self.human],
            "commit": self.commit.as_json() if self.commit else None,
            "dead_letter": self.dead_letter.as_json() if self.dead_letter else None,
            "cancellation": self.cancellation.as_json() if self.cancellation else None,
            "events": [event.as_json() for event in self.events],
            "notes": self.notes,
        }


def _ms(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds() * 1000.0, 3)


def _plus_ms(at: datetime, ms: float) -> datetime:
    return at + timedelta(milliseconds=ms)
