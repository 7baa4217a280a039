"""Housekeeping a Worker does on the side: retries, idle consumers, the retention sweep."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from chimera.ports.queue import TaskQueue
from chimera.services.retention import RetentionSweep, SweepReport


class Housekeeping:
    """Promotes due retries, prunes consumers that left long ago, sweeps what retention lets go.

    Args:
        queue: the task queue.
        tenants: whose keys to look after.
        lease_ms: the lease; consumers idle for ten leases (at least a minute) are pruned.
        prune_every_s: how often to prune.
        clock: epoch seconds.
        retention: the retention sweep of the Worker's tenants (None: none).
    """

    def __init__(
        self,
        queue: TaskQueue,
        tenants: Sequence[str],
        lease_ms: int,
        prune_every_s: float,
        clock: Callable[[], float],
        retention: RetentionSweep | None = None,
    ) -> None:
        self.queue = queue
        self.tenants = list(tenants)
        self.idle_ms = max(10 * lease_ms, 60_000)
        self.prune_every_s = prune_every_s
        self.clock = clock
        self._last_prune = clock()
        self.retention = retention if retention is not None and retention.enabled else None

    @property
    def retain_every_s(self) -> float | None:
        """How often to ask whether a sweep is due (None: retention is off).

        A quarter of the period, so the sweep runs close to on time, but at most every
        15 s: asking costs one Redis command per tenant.
        """
        if self.retention is None:
            return None
        return min(max(self.retention.config.sweep_every / 4, 0.01), 15.0)

    async def retain(self) -> list[SweepReport]:
        """Sweep each tenant whose period is up, if no other process is sweeping it.

        All Workers ask; one claims each period of each tenant (see
        :meth:`~chimera.services.retention.RetentionSweep.sweep_due`).
        """
        if self.retention is None:
            return []
        return await self.retention.sweep_due()

    async def promote(self) -> int:
        """Move retries whose time has come back into their task streams."""
        return await self.queue.promote_due(self.tenants, self.clock())

    async def prune_if_due(self) -> int:
        """Forget idle consumers with nothing pending, at most every ``prune_every_s``.

        Every restarted process joins under a new name; without pruning, the consumer
        groups would list every process that ever ran.
        """
        if self.clock() - self._last_prune <= self.prune_every_s:
            return 0
        self._last_prune = self.clock()
        return await self.queue.prune_consumers(self.tenants, self.idle_ms)
