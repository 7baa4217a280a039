"""Heartbeats of a Worker/Judge process, and the recent task ends they report.

Every few seconds a process writes one record per tenant it serves: who it is (host, pid,
version, the digest of the configuration it runs), how busy it is (concurrency, tasks in
flight) and, for the tenant, how many tasks it saw end over the last minute and their p95
age. ``chimera status`` counts live processes by these records, not by consumer-group
members (which outlive the processes that joined).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from chimera.lib.logging import get_logger
from chimera.models.presence import Heartbeat, Role, Throughput
from chimera.models.types import utc_now
from chimera.ports.metrics import NoMetrics
from chimera.ports.presence import PresenceStore
from chimera.services.faults import FaultClassifier, classify_builtin, handle

log = get_logger("chimera.presence")

#: How far back the throughput figures of a heartbeat look.
WINDOW_S = 60.0
#: Task ends kept per tenant for the window (older ones drop out first).
MAX_SAMPLES = 4096


class RecentEnds(NoMetrics):
    """Remembers, per tenant, when tasks ended and how old they were (fed as metrics).

    Args:
        window_s: how far back :meth:`throughput` looks.
        clock: monotonic seconds.
    """

    def __init__(
        self, window_s: float = WINDOW_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.window_s = window_s
        self.clock = clock
        self.started = clock()
        self._ends: dict[str, deque[tuple[float, float]]] = {}

    @property
    def enabled(self) -> bool:
        """Always True."""
        return True

    def task_settled(self, tenant: str, skill: str, outcome: str, seconds: float) -> None:
        """Remember that a task of ``tenant`` ended, ``seconds`` after it was created."""
        ends = self._ends.get(tenant)
        if ends is None:
            ends = self._ends[tenant] = deque(maxlen=MAX_SAMPLES)
        ends.append((self.clock(), seconds))

    def throughput(self, tenant: str) -> Throughput:
        """Tasks of ``tenant`` that ended within the window, and their p95 age."""
        now = self.clock()
        ends = self._ends.get(tenant, deque())
        while ends and ends[0][0] < now - self.window_s:
            ends.popleft()
        window = max(min(self.window_s, now - self.started), 1e-3)
        ages = sorted(age for _, age in ends)
        p95 = round(_p95(ages) * 1000.0, 3) if ages else None
        return Throughput(settled=len(ages), window_s=round(window, 3), p95_ms=p95)


def _p95(ordered: Sequence[float]) -> float:
    # Nearest rank: the smallest value with at least 95 % of the sample at or below it.
    rank = max(1, -(-95 * len(ordered) // 100))
    return ordered[rank - 1]


@dataclass(frozen=True)
class ProcessInfo:
    """What a process says about itself in every heartbeat."""

    consumer: str
    roles: list[Role]
    host: str
    pid: int
    version: str
    concurrency: int
    fingerprint: str
    started_at: datetime


class Heartbeats:
    """Refreshes this process's records until stopped, then removes them.

    Args:
        store: where records go.
        info: this process.
        tenants: the tenants it serves (one record each).
        in_flight: the tasks it runs right now.
        ends: recent task ends, for the throughput figures (``None``: none reported).
        every_s: seconds between beats; a record lives three beats.
        classify: tells a transient store failure from a permanent one.
    """

    def __init__(
        self,
        store: PresenceStore,
        info: ProcessInfo,
        tenants: Sequence[str],
        in_flight: Callable[[], int],
        ends: RecentEnds | None = None,
        every_s: float = 5.0,
        classify: FaultClassifier = classify_builtin,
    ) -> None:
        self.store = store
        self.info = info
        self.tenants = list(tenants)
        self.in_flight = in_flight
        self.ends = ends
        self.every_s = every_s
        self.classify = classify
        self.beats = 0

    def records(self, now: datetime) -> list[tuple[str, Heartbeat]]:
        """This process's record for each tenant, as of ``now``."""
        info = self.info
        return [
            (
                tenant,
                Heartbeat(
                    consumer=info.consumer,
                    roles=info.roles,
                    host=info.host,
                    pid=info.pid,
                    version=info.version,
                    tenants=self.tenants,
                    concurrency=info.concurrency,
                    in_flight=self.in_flight(),
                    fingerprint=info.fingerprint,
                    started_at=info.started_at,
                    beat_at=now,
                    ttl_s=self.every_s * 3,
                    throughput=self.ends.throughput(tenant) if self.ends else None,
                ),
            )
            for tenant in self.tenants
        ]

    async def beat(self) -> None:
        """Write this process's records now; every 12th beat, prune dead processes' ones."""
        now = utc_now()
        await self.store.beat(self.records(now))
        self.beats += 1
        if self.beats % 12 == 1:
            # A record expired a minute ago is a process that died without saying so.
            for tenant in self.tenants:
                await self.store.prune(tenant, now - timedelta(seconds=60))

    async def run(self, stop: asyncio.Event) -> None:
        """Beat every ``every_s`` until ``stop``; then remove this process's records.

        Raises:
            PermanentFault: the store refused the records for good (no permission).
        """
        while not stop.is_set():
            try:
                await self.beat()
            except Exception as exc:
                handle(log, "presence.beat_failed", exc, self.classify, f"again in {self.every_s}s")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.every_s):
                    await stop.wait()
        try:
            await self.store.forget(self.info.consumer, self.tenants)
        except Exception as exc:  # it expires by itself within three beats
            log.warning("presence.forget_failed", error=repr(exc))
