"""Folding a task's audit events, oldest first, into its story's attempts and endings.

Which attempt an event is about: the Worker's and the reviewers' events name it
(``data.attempt``); a retry names the attempt that follows (``attempt`` from a Worker,
``next_attempt`` from the Judge or a reviewer); the Judge's outcome events name none and
belong to the attempt its last decision was about. A dead letter's replay starts again at
attempt 1, so attempts are kept per replay round.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from chimera.models.audit import AuditEvent, AuditEventType
from chimera.models.excerpts import is_cut
from chimera.services.story.model import (
    Attempt,
    Ending,
    Event,
    HumanStep,
    TaskStory,
    ToolCallStep,
    Verdict,
)
from chimera.services.story.timeline import summary

#: The cost of some tokens (input, output) at the skill's price; ``None``: no price known.
Pricing = Callable[[int, int], float | None]

_T = AuditEventType


class StoryBuilder:
    """Builds a :class:`TaskStory` from audit events, applied in order.

    Args:
        story: the story to fill (its ids and state already set).
        cost: the price of tokens for this task's skill.
    """

    def __init__(self, story: TaskStory, cost: Pricing | None = None) -> None:
        self.story = story
        self.cost = cost
        self.replay = 0
        self.current = 1
        self._attempts: dict[tuple[int, int], Attempt] = {}

    def attempt(self, number: int | None) -> Attempt:
        """The attempt ``number`` of the current replay round (the current one if ``None``)."""
        n = number if number is not None and number >= 1 else self.current
        key = (self.replay, n)
        found = self._attempts.get(key)
        if found is None:
            found = Attempt(number=n, replay=self.replay)
            self._attempts[key] = found
            self.story.attempts.append(found)
        return found

    def apply_all(self, events: list[AuditEvent]) -> None:
        """Apply ``events`` in the trail's order.

        Not sorted by ``at``: an event's time is when it was built, and the Judge builds
        a commit's event before it writes its decision's; the chain's order is the order
        things were recorded in, which each writer keeps causal.
        """
        for event in events:
            self.apply(event)

    def apply(self, event: AuditEvent) -> None:
        """Apply one event: to its attempt, the task's endings, and the timeline."""
        data = event.data
        handler = _HANDLERS.get(event.type)
        number = handler(self, event, data) if handler is not None else _int(data.get("attempt"))
        self.story.events.append(
            Event(event.at, event.type.value, event.actor, number, summary(event))
        )

    def priced(self, attempt: Attempt) -> None:
        """Set the attempt's cost from its tokens, where a price is known."""
        if self.cost is None or attempt.input_tokens is None:
            return
        attempt.cost = self.cost(attempt.input_tokens or 0, attempt.output_tokens or 0)


def _submitted(b: StoryBuilder, e: AuditEvent, data: dict[str, Any]) -> int:
    story = b.story
    if story.submitted_at is None:
        story.submitted_at = e.at
    story.session = story.session or e.session
    story.trace_id = story.trace_id or e.trace_id
    story.skill = story.skill or data.get("skill")
    if "input" in data and story.input is None:
        story.input = data["input"]
    if "input_excerpt" in data and story.input is None:
        story.input_excerpt = data["input_excerpt"]
    if data.get("run") is not None:  # HOOK (pipelines): set once step tasks carry run/step
        story.pipeline = {"run": data.get("run"), "step": data.get("step")}
    attempt = b.attempt(_int(data.get("attempt")) or 1)
    attempt.queued_at = attempt.queued_at or e.at
    return attempt.number


def _started(b: StoryBuilder, e: AuditEvent, data: dict[str, Any]) -> int:
    # Written by Workers before issue 14.1; trails kept from then still have it.
    attempt = b.attempt(_int(data.get("attempt")))
    b.current = attempt.number
    attempt.started_at = attempt.started_at or e.at
    attempt.worker = attempt.worker or _worker(e.actor)
    attempt.deliveries = _int(data.get("deliveries"))
    return attempt.number


def _reclaimed(b: StoryBuilder, e: AuditEvent, data: dict[str, Any]) -> int:
    attempt = b.attempt(_int(data.get("attempt")))
    attempt.reclaimed += 1
    attempt.worker = _worker(e.actor)
    attempt.deliveries = _int(data.get("deliveries"))
    return attempt.number


def _tool_call(b: StoryBuilder, e: AuditEvent, data: dict[str, Any]) -> int:
    attempt = b.attempt(_int(data.get("attempt")))
    attempt.tool_calls.append(
        ToolCallStep(
            call_id=data.get("call_id"),
            server=data.get("server"),
            tool=data.get("tool"),
            arguments_digest=data.get("arguments_digest"),
            duration_ms=data.get("duration_ms"),
            result_chars=_int(data.get("result_chars")),
            is_error=bool(data.get("is_error")),
            error=data.get("error"),
            at=e.at,
        )
    )
    return attempt.number


def _failed_attempt(b: StoryBuilder, e: AuditEvent, data: dict[str, Any]) -> int:
    attempt = b.attempt(_int(data.get("attempt")))
    attempt.status = "failed"
    attempt.error = data.get("error") or attempt.error
    attempt.prompt = data.get("prompt") or attempt.prompt
    attempt.answer = data.get("answer")
    attempt.run_ms = data.get("latency_ms", attempt.run_ms)
    attempt.worker = attempt.worker or _worker(e.actor)
    started = _time(data.get("started_at"))
    attempt.started_at = attempt.started_at or started
    return attempt.number


def _retried(b: StoryBuilder, e: AuditEvent, data: dict[str, Any]) -> int:
    if "next_attempt" in data:  # the Judge's or a reviewer's
        following = _int(data["next_attempt"]) or b.current + 1
    else:  # a Worker's: the event names the next attempt
        following = _int(data.get("attempt")) or b.current + 1
    ended = b.attempt(following - 1)
    _end(ended, "retried", e)
    if ended.error is None and data.get("error"):
        ended.error = data["error"]
    if e.actor == "judge" and ended.judge is not None:
        ended.feedback = ended.judge.reason
    elif e.actor.startswith("human:"):
        ended.feedback = next((h.note for h in reversed(b.story.human) if h.note), None)
    nxt = b.attempt(following)
    due = data.get("due")
    nxt.queued_at = datetime.fromtimestamp(due, UTC) if isinstance(due, int | float) else e.at
    b.current = following
    return ended.number


def _decision(b: StoryBuilder, e: AuditEvent, data: dict[str, Any]) -> int:
    attempt = b.attempt(_int(data.get("attempt")))
    b.current = attempt.number
    attempt.judge = Verdict(
        verdict=str(data.get("verdict")),
        reason=data.get("reason"),
        policy=data.get("policy"),
        confidence=data.get("confidence"),
        thresholds=data.get("thresholds"),
        actor=e.actor,
        at=e.at,
        process=data.get("judge"),
    )
    attempt.judged_at = e.at
    attempt.status = data.get("status") or attempt.status
    attempt.error = data.get("error") or attempt.error
    attempt.error_kind = data.get("error_kind") or attempt.error_kind
    attempt.worker = attempt.worker or data.get("worker")
    attempt.started_at = attempt.started_at or _time(data.get("started_at"))
    attempt.run_ms = data.get("latency_ms", attempt.run_ms)
    attempt.confidence = data.get("confidence")
    if "prompt_tokens" in data:
        attempt.input_tokens = _int(data.get("prompt_tokens"))
        attempt.output_tokens = _int(data.get("completion_tokens"))
        b.priced(attempt)
    attempt.prompt = data.get("prompt") or attempt.prompt
    _set_output(attempt, data.get("output"))
    return attempt.number


def _committed(b: StoryBuilder, e: AuditEvent, data: dict[str, Any]) -> int:
    attempt = b.attempt(_int(data.get("attempt")))
    _end(attempt, "committed", e)
    b.story.commit = Ending(at=e.at, by=e.actor, attempt=attempt.number, process=data.get("judge"))
    return attempt.number


def _denied(b: StoryBuilder, e: AuditEvent, data: dict[str, Any]) -> int:
    attempt = b.attempt(_int(data.get("attempt")))
    _end(attempt, "denied", e)
    return attempt.number


def _review(b: StoryBuilder, e: AuditEvent, data: dict[str, Any]) -> int:
    attempt = b.attempt(_int(data.get("attempt")))
    if data.get("kind") == "tool_calls":  # the Worker parked it at sensitive tool calls
        attempt.parked_for = [str(tool) for tool in data.get("tools") or []]
        attempt.worker = attempt.worker or _worker(e.actor)
    else:
        _end(attempt, "review", e)
    return attempt.number


def _human(b: StoryBuilder, e: AuditEvent, data: dict[str, Any]) -> int:
    number = _int(data.get("attempt"))
    b.story.human.append(
        HumanStep(
            actor=e.actor,
            at=e.at,
            verdict=data.get("verdict"),
            note=data.get("note"),
            retry=bool(data.get("retry")),
            kind=str(data.get("kind") or "result"),
            tools=[str(tool) for tool in data.get("tools") or []],
            attempt=number,
        )
    )
    return b.attempt(number).number


def _dead_lettered(b: StoryBuilder, e: AuditEvent, data: dict[str, Any]) -> int:
    attempt = b.attempt(_int(data.get("attempt")) or _int(data.get("attempts")))
    _end(attempt, "dead_lettered", e)
    attempt.error = attempt.error or data.get("error")
    b.story.dead_letter = Ending(
        at=e.at,
        by=e.actor,
        attempt=attempt.number,
        reason=data.get("reason"),
        error=data.get("error"),
    )
    return attempt.number


def _replayed(b: StoryBuilder, e: AuditEvent, data: dict[str, Any]) -> int:
    b.replay += 1
    b.current = 1
    b.story.dead_letter = None  # it left the dead-letter queue; the timeline keeps it
    b.attempt(1).queued_at = e.at
    return 1


def _cancelled(b: StoryBuilder, e: AuditEvent, data: dict[str, Any]) -> int | None:
    if e.type is _T.CANCELLED or b.story.cancellation is None:
        b.story.cancellation = Ending(at=e.at, by=e.actor, reason=data.get("reason"))
    return _int(data.get("attempt"))


_HANDLERS: dict[AuditEventType, Callable[[StoryBuilder, AuditEvent, dict[str, Any]], int | None]]
_HANDLERS = {
    _T.SUBMITTED: _submitted,
    _T.STARTED: _started,
    _T.RECLAIMED: _reclaimed,
    _T.TOOL_CALL: _tool_call,
    _T.RESULT: _failed_attempt,
    _T.RETRIED: _retried,
    _T.DECISION: _decision,
    _T.COMMITTED: _committed,
    _T.DENIED: _denied,
    _T.REVIEW: _review,
    _T.HUMAN_DECISION: _human,
    _T.DEAD_LETTERED: _dead_lettered,
    _T.REPLAYED: _replayed,
    _T.CANCEL_REQUESTED: _cancelled,
    _T.CANCELLED: _cancelled,
}


def _set_output(attempt: Attempt, text: Any) -> None:
    """An output kept as JSON text: parsed back when whole, an excerpt when cut."""
    if not isinstance(text, str):
        return
    if is_cut(text):
        attempt.output_excerpt = text
        return
    try:
        attempt.output = json.loads(text)
    except ValueError:
        attempt.output_excerpt = text


def _end(attempt: Attempt, how: str, e: AuditEvent) -> None:
    attempt.ended, attempt.ended_by, attempt.ended_at = how, e.actor, e.at


def _worker(actor: str) -> str:
    return actor.removeprefix("worker:")


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
