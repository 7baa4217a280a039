"""What ``chimera worker`` runs in one process: Worker and/or Judge, heartbeats, metrics.

It also says so: one log line when the process starts (version, tenants, concurrency,
Redis without its password, the configuration's fingerprint) and one when it stops (tasks
done, handed back).
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Coroutine, Sequence
from typing import Any

from chimera.bootstrap import Runtime
from chimera.cli.observability import Observing
from chimera.config.fingerprint import swarm_fingerprint
from chimera.lib import redis_faults
from chimera.lib.logging import get_logger
from chimera.lib.redis_connect import safe_url
from chimera.models.presence import Role
from chimera.models.types import utc_now
from chimera.services.judge import Judge, JudgeSettings
from chimera.services.presence import Heartbeats, ProcessInfo, RecentEnds
from chimera.services.queue_gauges import QueueGauges
from chimera.services.usage import MetricsTee
from chimera.services.worker import Worker, WorkerSettings
from chimera.telemetry.tracing import chimera_version

log = get_logger("chimera.worker")


class WorkerProcess:
    """The loops of one ``chimera worker`` process, built from a runtime.

    Args:
        runtime: adapters and plugins.
        observing: tracing and metrics of this process.
        tenants: the tenants served (all of the swarm's when empty).
        roles: ``worker``, ``judge`` or both.
        worker_settings / judge_settings: tuning.
        redis_url: for the start line (its password is never printed).
    """

    def __init__(
        self,
        runtime: Runtime,
        observing: Observing,
        tenants: Sequence[str],
        roles: Sequence[Role],
        worker_settings: WorkerSettings,
        judge_settings: JudgeSettings,
        redis_url: str | None,
    ) -> None:
        self.runtime = runtime
        self.observing = observing
        self.tenants = list(tenants) or runtime.swarm.tenants
        self.roles = list(roles)
        self.redis_url = redis_url
        self.ends = RecentEnds()
        metrics = MetricsTee([observing.metrics, self.ends])
        chosen = list(tenants) or None
        self.worker: Worker | None = None
        self.judge: Judge | None = None
        if "worker" in self.roles:
            self.worker = runtime.worker(tenants=chosen, settings=worker_settings, metrics=metrics)
        if "judge" in self.roles:
            self.judge = runtime.judge(tenants=chosen, settings=judge_settings, metrics=metrics)
        named = self.worker or self.judge
        assert named is not None  # a process runs at least one of the roles
        self.info = ProcessInfo(
            consumer=named.consumer,
            roles=self.roles,
            host=socket.gethostname(),
            pid=os.getpid(),
            version=chimera_version(),
            concurrency=worker_settings.concurrency if self.worker else 0,
            fingerprint=swarm_fingerprint(runtime.swarm),
            started_at=utc_now(),
        )

    def in_flight(self) -> int:
        """Tasks this process runs right now."""
        return len(self.worker.in_flight) if self.worker is not None else 0

    def loops(self, stop: asyncio.Event) -> list[Coroutine[Any, Any, None]]:
        """Every loop of the process; each returns once ``stop`` is set."""
        loops: list[Coroutine[Any, Any, None]] = []
        if self.worker is not None:
            loops.append(self.worker.run(stop))
        if self.judge is not None:
            loops.append(self.judge.run(stop))
        heartbeats = Heartbeats(
            self.runtime.presence(),
            self.info,
            self.tenants,
            self.in_flight,
            self.ends,
            classify=redis_faults.classify,
        )
        loops.append(heartbeats.run(stop))
        if self.observing.prometheus is not None:
            gauges = QueueGauges(
                self.runtime.queue,
                self.observing.prometheus,
                self.tenants,
                classify=redis_faults.classify,
            )
            loops.append(gauges.run(stop))
        return loops

    def log_started(self) -> None:
        """One line: who this process is and what it runs."""
        info = self.info
        log.info(
            "worker.started",
            consumer=info.consumer,
            roles=info.roles,
            version=info.version,
            tenants=self.tenants,
            concurrency=info.concurrency,
            redis=safe_url(self.redis_url) if self.redis_url else "embedded",
            config=info.fingerprint,
            pid=info.pid,
            **self.observing.describe(),
        )

    def log_stopped(self) -> None:
        """One line: what this process did."""
        log.info(
            "worker.stopped",
            consumer=self.info.consumer,
            tasks_done=self.worker.finished if self.worker else None,
            handed_back=self.worker.handed_back if self.worker else None,
            judged=self.judge.judged if self.judge else None,
        )
