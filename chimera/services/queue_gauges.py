"""Queue figures for the metrics: lag, pending and backlogs of each tenant, every few seconds.

Read on the process's own event loop (the scrape runs on another thread, and the queue
port is async), at most every ``every_s``: a scrape sees figures at most that old.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from chimera.lib.logging import get_logger
from chimera.ports.metrics import Metrics
from chimera.ports.queue import QueueStats
from chimera.services.faults import Fault, FaultClassifier, classify_builtin

log = get_logger("chimera.metrics")


class QueueGauges:
    """Copies each tenant's :class:`~chimera.ports.queue.TenantStats` into the metrics.

    A tenant the store will not show (no permission) is reported unreadable, never as
    zeros; other failures are logged and tried again at the next round.
    """

    def __init__(
        self,
        stats: QueueStats,
        metrics: Metrics,
        tenants: Sequence[str],
        every_s: float = 5.0,
        classify: FaultClassifier = classify_builtin,
    ) -> None:
        self.stats = stats
        self.metrics = metrics
        self.tenants = list(tenants)
        self.every_s = every_s
        self.classify = classify

    async def collect(self) -> None:
        """Read every tenant's figures once."""
        for tenant in self.tenants:
            try:
                figures = await self.stats.stats(tenant)
            except Exception as exc:
                if self.classify(exc) is Fault.PERMANENT:
                    self.metrics.queue_unreadable(tenant)
                    continue
                log.warning("metrics.queue_stats_failed", tenant=tenant, error=repr(exc))
                continue
            self.metrics.queue_stats(figures)

    async def run(self, stop: asyncio.Event) -> None:
        """Collect every ``every_s`` until ``stop``."""
        while not stop.is_set():
            await self.collect()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.every_s):
                    await stop.wait()
