"""Wiring of real adapters (over any Redis client) to services, for tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis

from chimera.config.swarm import Swarm
from chimera.lib.keys import Keyspace
from chimera.lib.redis_audit import RedisAuditSink
from chimera.lib.redis_queue import RedisQueue
from chimera.lib.redis_sessions import RedisSessionStore
from chimera.lib.redis_uow import RedisUnitOfWork
from chimera.ports.judge import AuditSink
from chimera.services.audit import FanoutAuditLogger
from chimera.services.judge import Judge, JudgeSettings
from chimera.services.judge_policy import ThresholdPolicy
from chimera.services.planner import Planner
from chimera.services.worker import Worker, WorkerSettings


@dataclass
class Stack:
    swarm: Swarm
    client: aioredis.Redis
    keyspace: Keyspace
    backends: dict[str, Any]
    sinks: list[AuditSink] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.queue = RedisQueue(self.client, self.keyspace)
        self.uow = RedisUnitOfWork(self.client, self.keyspace)
        self.sessions = RedisSessionStore(self.client, self.keyspace)
        if not self.sinks:
            self.sinks = [RedisAuditSink(self.client, self.keyspace)]
        self.audit = FanoutAuditLogger(self.sinks)

    def planner(self) -> Planner:
        return Planner(self.swarm, self.queue, self.sessions, self.audit)

    def worker(self, name: str = "w1", **settings: Any) -> Worker:
        on_dead = settings.pop("on_dead_letter", None)
        clock = settings.pop("clock", None)
        kwargs: dict[str, Any] = {
            "on_dead_letter": on_dead,
            "tenants": settings.pop("tenants", None),
        }
        if clock is not None:
            kwargs["clock"] = clock
        return Worker(
            self.swarm,
            self.queue,
            self.backends,
            self.sessions,
            consumer=name,
            settings=WorkerSettings(**{"block_ms": 20, **settings}),
            audit=self.audit,
            **kwargs,
        )

    def judge(
        self, name: str = "j1", on_outcome: Callable[..., None] | None = None, **settings: Any
    ) -> Judge:
        tenants = settings.pop("tenants", None)
        return Judge(
            self.swarm,
            self.queue,
            self.uow,
            {"threshold": ThresholdPolicy()},
            self.audit,
            consumer=name,
            settings=JudgeSettings(**{"block_ms": 20, **settings}),
            on_outcome=on_outcome,
            tenants=tenants,
        )

    def keys(self, tenant: str = "acme") -> Any:
        return self.keyspace.tenant(tenant)
