"""A session: one tenant's batch of related tasks, with its lifecycle and counters."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class SessionState(StrEnum):
    """Lifecycle: open → running → completed, or halted (and back to running on resume)."""

    OPEN = "open"
    RUNNING = "running"
    COMPLETED = "completed"
    HALTED = "halted"


class SessionInfo(BaseModel):
    """A session's state and what became of its tasks so far."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant: str
    session: str
    stored_state: SessionState = SessionState.OPEN
    submitted: int = Field(default=0, ge=0)
    committed: int = Field(default=0, ge=0)
    denied: int = Field(default=0, ge=0)
    review: int = Field(default=0, ge=0)
    retried: int = Field(default=0, ge=0)
    dead_lettered: int = Field(default=0, ge=0)
    cancelled: int = Field(default=0, ge=0)
    tokens: int = Field(default=0, ge=0, description="LLM tokens of its published Results.")

    @property
    def settled(self) -> int:
        """Tasks that reached an outcome (review, a cancellation and dead letters included)."""
        return self.committed + self.denied + self.review + self.dead_lettered + self.cancelled

    @property
    def state(self) -> SessionState:
        """The lifecycle state; ``completed`` is derived from the counters, never stored."""
        if (
            self.stored_state is SessionState.RUNNING
            and self.submitted > 0
            and self.settled >= self.submitted
        ):
            return SessionState.COMPLETED
        return self.stored_state
