"""The Result a Worker emits for a Task, and the LLM usage it reports."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chimera.models.types import (
    MAX_TEXT_CHARS,
    JsonObject,
    SessionId,
    SkillName,
    TaskId,
    TenantId,
    TraceId,
)


class ResultStatus(StrEnum):
    """Whether the Worker produced an output."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ErrorKind(StrEnum):
    """Why a task failed; decides whether it is worth another attempt."""

    TIMEOUT = "timeout"
    BACKEND = "backend"
    RATE_LIMIT = "rate_limit"
    INVALID_INPUT = "invalid_input"
    INVALID_OUTPUT = "invalid_output"
    TOOL = "tool"
    MAX_STEPS = "max_steps"
    CONFIG = "config"

    @property
    def retryable(self) -> bool:
        """True for failures another attempt may fix.

        Timeouts, backend errors, rate limits and tool servers that are down are transient;
        an output that breaks the schema may come out right next time (LLMs are not
        deterministic). Input that breaks the skill's schema never will, so it fails at
        once, and so does an agent that used up its ``max_steps`` or a skill whose
        configuration its tool servers contradict (``config``).
        """
        return self not in (ErrorKind.INVALID_INPUT, ErrorKind.MAX_STEPS, ErrorKind.CONFIG)


class Usage(BaseModel):
    """Token counts reported by an LLM backend."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)


class Result(BaseModel):
    """The outcome of one attempt at one Task.

    Invariants: a succeeded Result has an ``output`` and no ``error``; a failed one has an
    ``error`` (and its ``error_kind``) and no ``output``; ``confidence`` is in [0, 1].

    ``prompt`` is the prompt as rendered for this attempt (cut to ``MAX_TEXT_CHARS``), so a
    reviewer and ``chimera results --task`` show what the model was asked; it is the one
    place the rendered prompt is kept (``None``: the prompt never rendered, or a Result of
    an older version).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    task_id: TaskId
    tenant: TenantId
    session: SessionId
    skill: SkillName
    attempt: int = Field(ge=1)
    status: ResultStatus
    output: JsonObject | None = None
    error: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)
    error_kind: ErrorKind | None = None
    confidence: float = Field(ge=0.0, le=1.0)
    usage: Usage = Field(default_factory=Usage)
    prompt: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)
    worker: str = Field(min_length=1, max_length=256)
    trace_id: TraceId
    started_at: datetime
    finished_at: datetime

    @model_validator(mode="after")
    def _status_matches_payload(self) -> Result:
        if self.status is ResultStatus.SUCCEEDED:
            if self.output is None:
                raise ValueError("a succeeded result needs an output")
            if self.error is not None or self.error_kind is not None:
                raise ValueError("a succeeded result cannot carry an error")
        else:
            if self.error is None or self.error_kind is None:
                raise ValueError("a failed result needs an error and an error_kind")
            if self.output is not None:
                raise ValueError("a failed result cannot carry an output")
        if self.finished_at < self.started_at:
            raise ValueError("finished_at is before started_at")
        return self

    @property
    def latency_ms(self) -> float:
        """Wall time the Worker spent on this attempt, in milliseconds."""
        return (self.finished_at - self.started_at).total_seconds() * 1000.0
