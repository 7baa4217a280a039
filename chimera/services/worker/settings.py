"""Tuning of one Worker process."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WorkerSettings:
    """Tuning of one Worker process.

    Attributes:
        concurrency: tasks in flight at once.
        block_ms: how long one read waits for new entries.
        lease_ms: an entry idle this long is presumed abandoned and may be reclaimed.
        max_deliveries: an entry delivered more often than this is poison: dead-lettered.
        isolate_after: an entry delivered this often already (its workers died twice while
            holding it) runs alone, so a poison task cannot take innocent tasks down with it
            again. Entries reclaimed once (a single crash) run with the rest, so recovery
            from an ordinary crash stays fast.
        grace_s: on stop, how long in-flight tasks may run before being handed back.
        halted_recheck_s: a task of a halted session waits this long before it is looked at again.
        promote_every_s: how often due retries are moved back into the task streams.
        prune_every_s: how often idle consumers are forgotten.
        retry_flush_after_s: pause before a failed flush is tried again.
        drift_wait_s: how long a task whose skill this Worker cannot run (a newer
            swarm.yaml planned it) is handed back for an up-to-date Worker before it is
            dead-lettered.
        drift_recheck_s: how long each such hand-back lasts.
    """

    concurrency: int = 200
    block_ms: int = 1000
    lease_ms: int = 30_000
    max_deliveries: int = 5
    isolate_after: int = 3
    grace_s: float = 10.0
    halted_recheck_s: float = 1.0
    promote_every_s: float = 0.25
    prune_every_s: float = 60.0
    retry_flush_after_s: float = 0.5
    drift_wait_s: float = 600.0
    drift_recheck_s: float = 5.0

    @property
    def low_water(self) -> int:
        """Read again once at least this many slots are free (a tenth of them).

        One read per handful of completions, rather than one entry at a time.
        """
        return max(1, self.concurrency // 10)
