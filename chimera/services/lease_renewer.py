"""Keeping the leases of entries held while slow work on them runs (a Judge's batch).

A Judge holds a batch of Results from the moment it reads them until it acks them: the
policy (maybe an outside service) and the audit sinks run in between. If that takes
longer than the lease, another Judge takes the entries over and judges them again: the
unit of work commits once, but the policy and the sinks are paid twice. While a batch is
held, a background task renews its leases every third of the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from chimera.lib.logging import get_logger
from chimera.models.result import Result
from chimera.models.task import Task
from chimera.ports.queue import Delivery

T = TypeVar("T", Task, Result)

log = get_logger("chimera.leases")

Renew = Callable[[str, Sequence[Delivery[T]]], Awaitable[set[tuple[str, str]]]]


class LeaseRenewer(Generic[T]):
    """Renews the leases of what is held, as long as it is held.

    Args:
        renew: the queue port's renewal call (``renew_results`` for a Judge).
        consumer: whose leases.
        lease_ms: the lease; renewed every third of it.
        where: names the holder in log lines (``judge``).
    """

    def __init__(self, renew: Renew[T], consumer: str, lease_ms: int, where: str) -> None:
        self.renew: Renew[T] = renew
        self.consumer = consumer
        self.every_s = lease_ms / 3000.0
        self.where = where

    @contextlib.asynccontextmanager
    async def holding(self, deliveries: Sequence[Delivery[T]]) -> AsyncIterator[None]:
        """Renew the leases of ``deliveries`` in the background while the block runs."""
        keeper = asyncio.create_task(self._keep(list(deliveries)))
        try:
            yield
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper

    async def _keep(self, deliveries: list[Delivery[T]]) -> None:
        while deliveries:
            await asyncio.sleep(self.every_s)
            try:
                owned = await self.renew(self.consumer, deliveries)
            except Exception as exc:
                # The next renewal may get through; if none does, another consumer takes
                # the entries over and the commit's own checks keep a duplicate harmless.
                log.warning(f"{self.where}.renew_failed", error=f"{type(exc).__name__}: {exc}")
                continue
            lost = [d for d in deliveries if d.key not in owned]
            if lost:
                log.warning(
                    f"{self.where}.lease_lost",
                    entries=len(lost),
                    next="another consumer took them over; its result counts once",
                )
                deliveries = [d for d in deliveries if d.key in owned]
