"""How a Worker shares its free slots among its tenants, and reads each share within limits.

Each read gives every tenant an equal share of the free slots (the remainder goes round,
so no tenant always gets the odd slot) and reads all of them in one round trip, each
tenant atomically with its quotas. What a tenant leaves unused (it had fewer tasks waiting,
or a limit held it back) is offered once more to the tenants that used their whole share.
A tenant with ten thousand tasks waiting therefore never holds a quiet tenant's few tasks
behind its own, and a tenant over its rate or in-flight limit waits in its stream without
taking slots from the others.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from chimera.ports.queue import FairRead, TaskQueue, TenantLimits


class FairReader:
    """Reads for one Worker.

    Args:
        queue: the task queue.
        consumer: the Worker's consumer name.
        tenants: whose streams to read.
        limits: the tenants' read limits (quotas); a tenant not listed has none.
    """

    def __init__(
        self,
        queue: TaskQueue,
        consumer: str,
        tenants: Sequence[str],
        limits: Mapping[str, TenantLimits],
    ) -> None:
        self.queue = queue
        self.consumer = consumer
        self.tenants = list(tenants)
        self.limits = dict(limits)
        self._turn = 0

    def shares(self, free: int, tenants: Sequence[str]) -> dict[str, int]:
        """``free`` slots split evenly over ``tenants``; the remainder goes round by turns."""
        if not tenants or free <= 0:
            return {}
        base, extra = divmod(free, len(tenants))
        start = self._turn % len(tenants)
        self._turn += 1
        ordered = [*tenants[start:], *tenants[:start]]
        return {tenant: base + (1 if i < extra else 0) for i, tenant in enumerate(ordered)}

    async def read(self, free: int, block_ms: int) -> FairRead:
        """Read up to ``free`` tasks, fairly; may wait up to ``block_ms`` when none wait."""
        shares = self.shares(free, self.tenants)
        read = await self.queue.read_within(self.consumer, shares, self.limits, block_ms)
        left = free - len(read.deliveries)
        busy = [
            tenant
            for tenant, share in shares.items()
            if share > 0 and read.got.get(tenant, 0) >= share and tenant not in read.limited
        ]
        if left > 0 and busy and read.deliveries:
            more = await self.queue.read_within(
                self.consumer, self.shares(left, busy), self.limits, 0
            )
            read = read.merge(more)
        return read
