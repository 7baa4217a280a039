"""Tenant quotas: the read limits Workers share, and the token budgets the Planner checks.

Tasks in flight and the rate are read limits: the queue holds a tenant's tasks back in its
stream (deferred, never failed) and other tenants go on. Token budgets (per UTC day, per
session) are checked when tasks are submitted: past one, submissions are refused, while
tasks already submitted still run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from chimera.config.swarm import Swarm
from chimera.models.audit import AuditEvent, AuditEventType, event_id
from chimera.models.config import QuotaConfig
from chimera.models.task import Task
from chimera.models.types import new_id, utc_now
from chimera.ports.queue import TenantLimits, ThrottleChange
from chimera.ports.quota import UsageStore
from chimera.ports.session import SessionStore


def read_limits(swarm: Swarm) -> dict[str, TenantLimits]:
    """The read limits of every tenant that has one."""
    limits = {}
    for tenant, config in swarm.config.tenants.items():
        quotas = config.quotas
        if quotas.max_in_flight is not None or quotas.rate_per_s is not None:
            limits[tenant] = TenantLimits(
                max_in_flight=quotas.max_in_flight,
                rate_per_s=quotas.rate_per_s,
                burst=quotas.bucket_size,
            )
    return limits


def throttle_event(change: ThrottleChange, consumer: str) -> AuditEvent:
    """The audit record of a tenant becoming throttled, or released."""
    kind = AuditEventType.QUOTA_THROTTLED if change.throttled else AuditEventType.QUOTA_RELEASED
    return AuditEvent(
        id=event_id(kind, change.tenant, new_id()),
        type=kind,
        tenant=change.tenant,
        actor=f"worker:{consumer}",
        data={"limit": change.reason},
    )


@dataclass(frozen=True)
class Overrun:
    """A token budget a submission would go past: whose, which, how much is used."""

    tenant: str
    budget: str
    """``tokens_per_day`` or ``tokens_per_session``."""
    used: int
    limit: int
    session: str | None = None

    def message(self) -> str:
        """One line for the refusal."""
        if self.budget == "tokens_per_day":
            return (
                f"tenant {self.tenant!r} has used its token budget for today ({self.used} of "
                f"{self.limit} tokens); new tasks are refused until 00:00 UTC"
            )
        return (
            f"session {self.session!r} of tenant {self.tenant!r} has used its token budget "
            f"({self.used} of {self.limit} tokens); submit into a new session"
        )

    def event(self) -> AuditEvent:
        """The audit record of the refusal."""
        return AuditEvent(
            id=event_id(AuditEventType.QUOTA_REFUSED, self.tenant, new_id()),
            type=AuditEventType.QUOTA_REFUSED,
            tenant=self.tenant,
            session=self.session,
            actor="planner",
            data={"budget": self.budget, "used": self.used, "limit": self.limit},
        )


class TokenBudgets:
    """Checks tasks about to be submitted against their tenants' token budgets.

    Args:
        swarm: the tenants' quotas.
        usage: tokens used per tenant and day.
        sessions: tokens used per session.
        clock: now (the UTC day).
    """

    def __init__(
        self,
        swarm: Swarm,
        usage: UsageStore,
        sessions: SessionStore,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.quotas: dict[str, QuotaConfig] = {
            tenant: config.quotas for tenant, config in swarm.config.tenants.items()
        }
        self.usage = usage
        self.sessions = sessions
        self.clock = clock

    async def overruns(self, tasks: Sequence[Task]) -> list[Overrun]:
        """The budgets ``tasks`` would go past (already used up), one per tenant or session."""
        found: list[Overrun] = []
        day = self.clock().date().isoformat()
        for tenant in sorted({t.tenant for t in tasks}):
            quotas = self.quotas.get(tenant)
            if quotas is None:
                continue
            if quotas.tokens_per_day is not None:
                used = await self.usage.tokens(tenant, day)
                if used >= quotas.tokens_per_day:
                    found.append(Overrun(tenant, "tokens_per_day", used, quotas.tokens_per_day))
            if quotas.tokens_per_session is not None:
                for session in sorted({t.session for t in tasks if t.tenant == tenant}):
                    info = await self.sessions.get(tenant, session)
                    used = info.tokens if info is not None else 0
                    if used >= quotas.tokens_per_session:
                        limit = quotas.tokens_per_session
                        found.append(Overrun(tenant, "tokens_per_session", used, limit, session))
        return found
