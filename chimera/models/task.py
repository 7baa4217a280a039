"""The Task: one unit of work for one skill, owned by one tenant and session."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

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


class Task(BaseModel):
    """A request to run ``skill`` on ``input`` for ``tenant`` within ``session``.

    A retried task keeps its ``id`` (commits are idempotent per id) and carries a higher
    ``attempt`` and, when the Judge asked for another try, its ``feedback``.
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
    trace_id: TraceId = Field(default_factory=new_trace_id)
    created_at: datetime = Field(default_factory=utc_now)
    skill_fingerprint: str | None = Field(default=None, max_length=64)
    """The fingerprint of the skill definition the task was planned with (``None``:
    planned before tasks carried one)."""
    waiting_since: datetime | None = None
    """When a Worker first handed the task back because it could not run its skill (a
    swarm.yaml older than the Planner's): the bound on that wait counts from here."""

    @model_validator(mode="after")
    def _attempt_within_budget(self) -> Task:
        if self.attempt > self.max_attempts:
            raise ValueError(f"attempt {self.attempt} exceeds max_attempts {self.max_attempts}")
        return self

    def next_attempt(self, feedback: str | None = None) -> Task:
        """Return the same task one attempt later, optionally with the Judge's feedback."""
        return self.model_copy(
            update={"attempt": self.attempt + 1, "feedback": feedback, "waiting_since": None}
        )

    def replayed(self) -> Task:
        """Return the task as a dead letter's replay runs it: attempts and waits start over."""
        return self.model_copy(update={"attempt": 1, "feedback": None, "waiting_since": None})
