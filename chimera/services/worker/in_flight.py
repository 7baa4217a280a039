"""The tasks a Worker is running, the suspects waiting to run alone, and the slots they take."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable, Coroutine
from typing import Any

from chimera.models.task import Task
from chimera.ports.queue import Delivery


class InFlight:
    """Running tasks by entry, with slot accounting.

    Args:
        concurrency: slots: tasks that may run at once.
        low_water: readers are woken once at least this many slots are free.
        run_one: the coroutine that runs one delivery to its settlement.
    """

    def __init__(
        self,
        concurrency: int,
        low_water: int,
        run_one: Callable[[Delivery[Task]], Coroutine[Any, Any, None]],
    ) -> None:
        self.concurrency = concurrency
        self.low_water = low_water
        self.run_one = run_one
        self.suspects: list[Delivery[Task]] = []
        self._jobs: dict[tuple[str, str], tuple[Delivery[Task], asyncio.Task[None]]] = {}
        self._slot_freed = asyncio.Event()

    def __len__(self) -> int:
        return len(self._jobs)

    @property
    def free(self) -> int:
        """Slots not taken."""
        return self.concurrency - len(self._jobs)

    def holds(self, delivery: Delivery[Task]) -> bool:
        """Whether ``delivery`` is already running or waiting to run alone."""
        return delivery.key in self._jobs or delivery in self.suspects

    def deliveries(self) -> list[Delivery[Task]]:
        """Every entry held: running and suspects (their leases must be renewed)."""
        return [d for d, _ in self._jobs.values()] + self.suspects

    def start(self, delivery: Delivery[Task]) -> asyncio.Task[None]:
        """Run ``delivery`` in a slot."""
        job = asyncio.create_task(self.run_one(delivery))
        self._jobs[delivery.key] = (delivery, job)
        job.add_done_callback(functools.partial(self._done, delivery.key))
        return job

    def _done(self, key: tuple[str, str], _job: object = None) -> None:
        self._jobs.pop(key, None)
        if self.free >= self.low_water:
            self._slot_freed.set()

    def lost(self, delivery: Delivery[Task]) -> bool:
        """Another consumer took ``delivery``: stop its work. True if it was running."""
        if delivery in self.suspects:
            self.suspects.remove(delivery)
        entry = self._jobs.get(delivery.key)
        if entry is None:
            return False
        entry[1].cancel()
        return True

    async def wait_for_slots(self, seconds: float) -> None:
        """Wait until a batch of slots is free, or ``seconds`` pass."""
        self._slot_freed.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._slot_freed.wait()

    async def wait_idle(self, stop: asyncio.Event, poll_s: float = 0.05) -> None:
        """Wait until nothing runs (or ``stop`` is set)."""
        while self._jobs and not stop.is_set():
            await self.wait_for_slots(poll_s)

    async def drain(self, grace_s: float) -> list[Delivery[Task]]:
        """Let running tasks finish within ``grace_s``; cancel the rest and return them."""
        if not self._jobs:
            return []
        jobs = [job for _, job in self._jobs.values()]
        _, pending = await asyncio.wait(jobs, timeout=grace_s)
        leftovers = [d for d, job in list(self._jobs.values()) if job in pending]
        for job in pending:
            job.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        return leftovers
