"""The figures of ``chimera status``: per tenant, or why a tenant could not be read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chimera.ports.queue import QueueStats, TenantStats
from chimera.services.tenants import TenantScope


@dataclass(frozen=True)
class TenantStatus:
    """One tenant's figures, or ``denied`` saying why the store would not show them."""

    tenant: str
    stats: TenantStats | None
    denied: str | None = None


class SwarmStatus:
    """Reads every tenant's queue figures, one tenant at a time.

    A tenant whose keys the store refuses to show (a Redis user limited to other tenants'
    keys) is reported as denied, never as zeros; any other failure propagates.

    Args:
        queue: the figures per tenant.
        scope: the swarm's tenants.
        access_denied: tells a refusal of access apart from other failures (the adapter's
            knowledge, handed in so this service stays on ports).
    """

    def __init__(
        self,
        queue: QueueStats,
        scope: TenantScope,
        access_denied: Callable[[Exception], bool],
    ) -> None:
        self.queue = queue
        self.scope = scope
        self.access_denied = access_denied

    async def tenants(self, tenant: str | None = None) -> list[TenantStatus]:
        """The status of ``tenant``, or of every tenant in file order.

        Raises:
            UnknownTenant: the swarm has no such tenant.
        """
        rows = []
        for name in self.scope.select(tenant):
            try:
                rows.append(TenantStatus(name, await self.queue.stats(name)))
            except Exception as exc:
                if not self.access_denied(exc):
                    raise
                rows.append(TenantStatus(name, None, denied=str(exc) or type(exc).__name__))
        return rows
