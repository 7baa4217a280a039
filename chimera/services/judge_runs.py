"""The Judge's part in pipeline runs: advance the runs it touched, and sweep the others."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from chimera.lib.logging import get_logger
from chimera.ports.judge import CommitOutcome, Judged
from chimera.services.faults import FaultClassifier, handle
from chimera.services.pipeline.keeper import RunKeeper

log = get_logger("chimera.judge")

#: Outcomes that change a pipeline step: its run may advance.
_SETTLES_STEP = frozenset({CommitOutcome.COMMITTED, CommitOutcome.DENIED, CommitOutcome.REVIEW})


class RunFollower:
    """Advances pipeline runs for one Judge; a failure is logged, never raised.

    Args:
        runs: the run keeper.
        tenants: whose runs the sweep looks at.
        every_s: the sweep's period (jittered by ±25 % so many Judges do not sweep in step).
    """

    def __init__(
        self,
        runs: RunKeeper,
        tenants: Sequence[str],
        every_s: float,
        clock: Callable[[], float],
        rng: random.Random,
        classify: FaultClassifier,
    ) -> None:
        self.runs = runs
        self.tenants = list(tenants)
        self.every_s = every_s
        self.clock = clock
        self.rng = rng
        self.classify = classify
        self._last = 0.0

    async def sweep_if_due(self) -> None:
        """Advance every unfinished run once a (jittered) period has passed."""
        if self.clock() - self._last < self.every_s * self.rng.uniform(0.75, 1.25):
            return
        self._last = self.clock()
        try:
            await self.runs.sweep(self.tenants)
        except Exception as exc:
            handle(log, "judge.run_sweep_failed", exc, self.classify, "again at the next sweep")

    async def after_batch(self, pairs: Sequence[tuple[Judged, CommitOutcome]]) -> None:
        """Advance the runs whose steps this batch settled (the sweep catches a failure)."""
        wanted: dict[str, dict[str, None]] = {}
        reasons: dict[str, str] = {}
        for item, outcome in pairs:
            task = item.task
            if task is None or task.run is None or outcome not in _SETTLES_STEP:
                continue
            wanted.setdefault(task.tenant, {})[task.run] = None
            if item.decision is not None and outcome is CommitOutcome.DENIED:
                reasons[task.id] = item.decision.reason
        for tenant, run_ids in wanted.items():
            try:
                await self.runs.advance(tenant, list(run_ids), reasons)
            except Exception as exc:
                handle(log, "judge.run_advance_failed", exc, self.classify, "the sweep retries")
