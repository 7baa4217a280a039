"""Housekeeping a Worker does on the side: due retries back into the streams, idle consumers out."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from chimera.ports.queue import TaskQueue


class Housekeeping:
    """Promotes due retries and prunes consumers that left long ago.

    Args:
        queue: the task queue.
        tenants: whose keys to look after.
        lease_ms: the lease; consumers idle for ten leases (at least a minute) are pruned.
        prune_every_s: how often to prune.
        clock: epoch seconds.
    """

    def __init__(
        self,
        queue: TaskQueue,
        tenants: Sequence[str],
        lease_ms: int,
        prune_every_s: float,
        clock: Callable[[], float],
    ) -> None:
        self.queue = queue
        self.tenants = list(tenants)
        self.idle_ms = max(10 * lease_ms, 60_000)
        self.prune_every_s = prune_every_s
        self.clock = clock
        self._last_prune = clock()

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
