"""The Task: one unit of work for one skill, owned by one tenant and session."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import to_json

from chimera.models.llm import PausedConversation
from chimera.models.pipeline import STEP_NAME_PATTERN
from chimera.models.types import (
    MAX_TEXT_CHARS,
    JsonObject,
    SessionId,
    SkillName,
    TaskId,
    TenantId,
    TraceId,
    new_id,
    new_trace_id,
    utc_now,
)

#: Earlier attempts a Task remembers (the newest ones): enough for a reviewer to see how
#: the answer got here, bounded so a task retried many times stays a small message.
MAX_PREVIOUS = 10
#: Longest JSON text of an earlier attempt's output a Task keeps.
MAX_PREVIOUS_OUTPUT_CHARS = 4000


class PreviousAttempt(BaseModel):
    """What became of one earlier attempt of a task, and why it was tried again.

    Attributes:
        attempt: the attempt this note is about.
        by: who sent it back: ``judge``, ``worker`` (a failure worth retrying) or
            ``human:<actor>`` (a reviewer's reject with retry).
        at: when.
        feedback: the reason given to the next attempt (the Judge's or the reviewer's).
        error: the failure, when the attempt produced no output.
        confidence: the attempt's confidence, when it produced an output.
        output: the attempt's output as JSON text, cut to ``MAX_PREVIOUS_OUTPUT_CHARS``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    attempt: int = Field(ge=1)
    by: str = Field(min_length=1, max_length=256)
    at: datetime = Field(default_factory=utc_now)
    feedback: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)
    error: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    output: str | None = Field(default=None, max_length=MAX_PREVIOUS_OUTPUT_CHARS + 1)


class Task(BaseModel):
    """A request to run ``skill`` on ``input`` for ``tenant`` within ``session``.

    A retried task keeps its ``id`` (commits are idempotent per id) and carries a higher
    ``attempt`` and, when the Judge or a reviewer asked for another try, its ``feedback``;
    ``previous`` notes what became of the earlier attempts (the newest ``MAX_PREVIOUS``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: TaskId = Field(default_factory=new_id)
    tenant: TenantId
    session: SessionId
    skill: SkillName
    input: JsonObject
    attempt: int = Field(default=1, ge=1)
    max_attempts: int = Field(default=3, ge=1)
    feedback: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)
    previous: list[PreviousAttempt] = Field(default_factory=list, max_length=MAX_PREVIOUS)
    trace_id: TraceId = Field(default_factory=new_trace_id)
    created_at: datetime = Field(default_factory=utc_now)
    skill_fingerprint: str | None = Field(default=None, max_length=64)
    """The fingerprint of the skill definition the task was planned with (``None``:
    planned before tasks carried one)."""
    waiting_since: datetime | None = None
    """When a Worker first handed the task back because it could not run its skill (a
    swarm.yaml older than the Planner's): the bound on that wait counts from here."""
    resume: PausedConversation | None = None
    """The conversation to go on with, once a human answered its sensitive tool calls
    (``approved`` set); the attempt stays the same."""
    run: TaskId | None = None
    """The pipeline run this task is a step of (``None``: a task submitted on its own)."""
    step: str | None = Field(default=None, pattern=STEP_NAME_PATTERN)
    """The step of ``run`` this task runs (one item, for a fan-out step)."""

    @model_validator(mode="after")
    def _attempt_within_budget(self) -> Task:
        if self.attempt > self.max_attempts:
            raise ValueError(f"attempt {self.attempt} exceeds max_attempts {self.max_attempts}")
        return self

    def next_attempt(
        self,
        feedback: str | None = None,
        *,
        by: str = "chimera",
        error: str | None = None,
        confidence: float | None = None,
        output: JsonObject | None = None,
    ) -> Task:
        """Return the same task one attempt later, with ``feedback`` for that attempt.

        The attempt that ends here is noted in ``previous`` (who sent it back, why, and
        what it produced), keeping the newest ``MAX_PREVIOUS`` notes.
        """
        note = PreviousAttempt(
            attempt=self.attempt,
            by=by,
            feedback=feedback,
            error=error[:MAX_TEXT_CHARS] if error is not None else None,
            confidence=confidence,
            output=_bounded_json(output),
        )
        previous = [*self.previous, note][-MAX_PREVIOUS:]
        return self.model_copy(
            update={
                "attempt": self.attempt + 1,
                "feedback": feedback,
                "previous": previous,
                "waiting_since": None,
                "resume": None,
            }
        )

    def replayed(self) -> Task:
        """Return the task as a dead letter's replay runs it: attempts and waits start over.

        Its earlier attempts stay noted in ``previous``.
        """
        return self.model_copy(
            update={"attempt": 1, "feedback": None, "waiting_since": None, "resume": None}
        )


def _bounded_json(value: JsonObject | None) -> str | None:
    """``value`` as JSON text, cut to ``MAX_PREVIOUS_OUTPUT_CHARS`` (an ellipsis marks a cut)."""
    if value is None:
        return None
    text = to_json(value).decode()
    if len(text) <= MAX_PREVIOUS_OUTPUT_CHARS:
        return text
    return text[:MAX_PREVIOUS_OUTPUT_CHARS] + "…"
