"""What ``chimera run`` runs: the orchestrator, with its metrics, tokens and prices."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence

from chimera.bootstrap import Runtime
from chimera.cli.observability import Observing
from chimera.lib import redis_faults
from chimera.services.judge import JudgeSettings
from chimera.services.orchestrator import Orchestrator, RunReport
from chimera.services.pipeline.tracker import RunRequest, RunTracker
from chimera.services.planner import Submission
from chimera.services.queue_gauges import QueueGauges
from chimera.services.usage import MetricsTee, UsageTally
from chimera.services.worker import WorkerSettings


async def run_observed(
    runtime: Runtime,
    observing: Observing,
    submissions: Sequence[Submission],
    session: str | None,
    concurrency: int,
    progress: Callable[[int, int], None] | None = None,
    shared: bool = False,
    runs: Sequence[RunRequest] = (),
) -> RunReport:
    """Run ``submissions`` to completion; the report counts the tokens the metrics count.

    ``shared``: the Redis is one other processes use too, so tasks they settle are looked
    up by id.

    Raises:
        PlanningError: a submission was invalid; nothing was enqueued.
    """
    usage = UsageTally()
    metrics = MetricsTee([observing.metrics, usage])
    orchestrator = Orchestrator(
        runtime.planner(),
        make_worker=lambda on_dead: runtime.worker(
            settings=WorkerSettings(concurrency=concurrency, block_ms=200),
            on_dead_letter=on_dead,
            metrics=metrics,
        ),
        make_judge=lambda on_outcome: runtime.judge(
            on_outcome=on_outcome,
            settings=JudgeSettings(block_ms=200, max_consecutive_failures=10),
            metrics=metrics,
        ),
        progress=progress,
        states=runtime.task_states() if shared else None,
        usage=usage,
        pricing=runtime.swarm.config.pricing,
        runs=RunTracker(runtime.run_keeper("run"), runs) if runs else None,
    )
    if observing.prometheus is None:
        return await orchestrator.run(submissions, session)
    gauges = QueueGauges(
        runtime.queue, observing.prometheus, runtime.swarm.tenants, classify=redis_faults.classify
    )
    stop = asyncio.Event()
    collecting = asyncio.create_task(gauges.run(stop))
    try:
        return await orchestrator.run(submissions, session)
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await collecting
        await gauges.collect()  # the figures at the end, for a last scrape
