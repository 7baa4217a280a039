"""The figures of ``chimera status``: per tenant, or why a tenant could not be read.

Live processes are counted by their heartbeats (a consumer group remembers every process
that ever joined it); the ``denied`` count sums the tenant's session counters, which the
Judge and human reviewers increment in the same atomic step as the denial (``cancelled``
likewise, moved by ``CANCEL_TASK``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from chimera.models.presence import Heartbeat
from chimera.models.types import utc_now
from chimera.ports.presence import PresenceStore
from chimera.ports.queue import QueueStats, TenantStats
from chimera.ports.session import SessionStore
from chimera.services.tenants import TenantScope


@dataclass(frozen=True)
class TenantStatus:
    """One tenant's figures, or ``denied`` saying why the store would not show them.

    Attributes:
        tenant: the tenant.
        stats: its stream and backlog figures (``None`` when refused).
        denied: why the store refused to show them (no permission), if it did.
        processes: the live Worker/Judge processes serving it, by heartbeat.
        denied_tasks: tasks the Judge or a reviewer denied, over all its sessions.
        cancelled_tasks: tasks cancelled by an operator, over all its sessions.
    """

    tenant: str
    stats: TenantStats | None
    denied: str | None = None
    processes: list[Heartbeat] = field(default_factory=list)
    denied_tasks: int | None = None
    cancelled_tasks: int | None = None

    def role_count(self, role: str) -> int:
        """Live processes running ``role`` (``worker`` or ``judge``)."""
        return sum(1 for p in self.processes if role in p.roles)

    @property
    def in_flight(self) -> int:
        """Tasks the live processes are running."""
        return sum(p.in_flight for p in self.processes)

    @property
    def rate(self) -> float | None:
        """Tasks ended per second over the last minute, as the live processes saw them."""
        seen = [p.throughput for p in self.processes if p.throughput is not None]
        return round(sum(t.rate for t in seen), 3) if seen else None

    @property
    def p95_ms(self) -> float | None:
        """The slowest live process's p95 task age at its end over the last minute."""
        values = [
            p.throughput.p95_ms
            for p in self.processes
            if p.throughput is not None and p.throughput.p95_ms is not None
        ]
        return max(values) if values else None

    @property
    def fingerprints(self) -> list[str]:
        """The configurations the live processes run (one, unless some lag behind)."""
        return sorted({p.fingerprint for p in self.processes})


class SwarmStatus:
    """Reads every tenant's figures, one tenant at a time.

    A tenant whose keys the store refuses to show (a Redis user limited to other tenants'
    keys) is reported as denied, never as zeros; any other failure propagates.

    Args:
        queue: the figures per tenant.
        scope: the swarm's tenants.
        access_denied: tells a refusal of access apart from other failures (the adapter's
            knowledge, handed in so this service stays on ports).
        presence: heartbeats of live processes (``None``: not counted).
        sessions: session counters, for the denied count (``None``: not counted).
        clock: now, to tell live heartbeats from stale ones.
    """

    def __init__(
        self,
        queue: QueueStats,
        scope: TenantScope,
        access_denied: Callable[[Exception], bool],
        presence: PresenceStore | None = None,
        sessions: SessionStore | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.queue = queue
        self.scope = scope
        self.access_denied = access_denied
        self.presence = presence
        self.sessions = sessions
        self.clock = clock

    async def tenants(self, tenant: str | None = None) -> list[TenantStatus]:
        """The status of ``tenant``, or of every tenant in file order.

        Raises:
            UnknownTenant: the swarm has no such tenant.
        """
        rows = []
        for name in self.scope.select(tenant):
            try:
                rows.append(await self._tenant(name))
            except Exception as exc:
                if not self.access_denied(exc):
                    raise
                rows.append(TenantStatus(name, None, denied=str(exc) or type(exc).__name__))
        return rows

    async def _tenant(self, tenant: str) -> TenantStatus:
        stats = await self.queue.stats(tenant)
        processes = (
            await self.presence.live(tenant, self.clock()) if self.presence is not None else []
        )
        denied = cancelled = None
        if self.sessions is not None:
            sessions = await self.sessions.list(tenant)
            denied = sum(s.denied for s in sessions)
            cancelled = sum(s.cancelled for s in sessions)
        return TenantStatus(
            tenant, stats, processes=processes, denied_tasks=denied, cancelled_tasks=cancelled
        )
