"""Keeping leases: renew what this Worker holds, take over what dead Workers left behind.

An entry stays pending to the consumer that read it until it is acked. A live Worker
renews (``XCLAIM … JUSTID``) every entry it holds — running, waiting in the outbox to be
sent, or waiting to run alone — so a long LLM call is never taken from it; entries idle
past the lease belong to Workers that died and are claimed by whoever looks first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from chimera.models.task import Task
from chimera.ports.queue import Delivery, TaskQueue


class LeaseKeeper:
    """Renews and reclaims task entries for one consumer.

    Args:
        queue: the task queue.
        consumer: this Worker's consumer name.
        tenants: whose streams the Worker reads.
        lease_ms: idle time after which an entry is presumed abandoned.
    """

    def __init__(
        self, queue: TaskQueue, consumer: str, tenants: Sequence[str], lease_ms: int
    ) -> None:
        self.queue = queue
        self.consumer = consumer
        self.tenants = list(tenants)
        self.lease_ms = lease_ms

    async def renew(self, held: Sequence[Delivery[Task]]) -> list[Delivery[Task]]:
        """Renew every entry in ``held``; return those another consumer has taken over."""
        if not held:
            return []
        owned = await self.queue.renew(self.consumer, held)
        return [delivery for delivery in held if delivery.key not in owned]

    async def reclaim(
        self,
        room: Callable[[], bool],
        accept: Callable[[list[Delivery[Task]]], Awaitable[bool]],
    ) -> int:
        """Claim abandoned entries one at a time while there is ``room``.

        ``accept`` starts work on what was claimed and returns False to stop claiming (it
        took an entry that must run alone). Claiming one at a time means a Worker holds at
        most one such suspect, so a task that kills its worker never takes other reclaimed
        tasks down with it.

        Returns:
            How many entries were claimed.
        """
        taken = 0
        while room():
            claimed = await self.queue.claim_stale(self.consumer, self.tenants, self.lease_ms, 1)
            if not claimed:
                break
            taken += len(claimed)
            if not await accept(claimed):
                break
        return taken
