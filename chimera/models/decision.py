"""The Judge's Decision on a Result."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from chimera.models.result import Result
from chimera.models.thresholds import Thresholds
from chimera.models.types import MAX_TEXT_CHARS, SessionId, SkillName, TaskId, TenantId, utc_now


class Verdict(StrEnum):
    """What happens to a Result: commit it, drop it, or send it to a human for review.

    ``HITL`` ("human in the loop") is kept as another name of ``REVIEW`` for plugins
    written against earlier releases.
    """

    APPROVE = "approve"
    DENY = "deny"
    REVIEW = "review"
    HITL = "review"


class Decision(BaseModel):
    """A verdict with everything needed to explain it later.

    ``retry`` is only meaningful with ``deny``: the task runs again with ``reason`` as
    feedback instead of ending denied.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    task_id: TaskId
    tenant: TenantId
    session: SessionId
    skill: SkillName
    verdict: Verdict
    reason: str = Field(max_length=MAX_TEXT_CHARS)
    policy: str = Field(max_length=256)
    confidence: float = Field(ge=0.0, le=1.0)
    thresholds: Thresholds | None = None
    retry: bool = False
    actor: str = "judge"
    decided_at: datetime = Field(default_factory=utc_now)

    @classmethod
    def on(
        cls,
        result: Result,
        verdict: Verdict,
        reason: str,
        policy: str,
        thresholds: Thresholds | None = None,
        retry: bool = False,
    ) -> Decision:
        """A decision about ``result``, naming the same task, tenant, session and skill."""
        return cls(
            task_id=result.task_id,
            tenant=result.tenant,
            session=result.session,
            skill=result.skill,
            verdict=verdict,
            # Reasons quote errors and outputs; keep them within the bound, never fail on it.
            reason=reason[:MAX_TEXT_CHARS],
            policy=policy,
            confidence=result.confidence,
            thresholds=thresholds,
            retry=retry,
        )
