"""Services wired to ports, for tests: the Redis adapters over any client, or the fakes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis

from chimera.config.swarm import Swarm
from chimera.lib.fields import BODY
from chimera.lib.keys import Keyspace
from chimera.lib.redis_audit import RedisAuditSink
from chimera.lib.redis_pending_audit import RedisPendingAudit
from chimera.lib.redis_queue import RedisQueue
from chimera.lib.redis_sessions import RedisSessionStore
from chimera.lib.redis_uow import RedisUnitOfWork
from chimera.models.result import Result
from chimera.ports.judge import AuditSink
from chimera.services.audit import FanoutAuditLogger
from chimera.services.judge import Judge, JudgeSettings
from chimera.services.judge_policy import ThresholdPolicy
from chimera.services.planner import Planner
from chimera.services.worker import Worker, WorkerSettings
from chimera.testing import FakePorts
from chimera.testing.fakes.store import TenantData


class _Services:
    """Builds the services over ``queue``, ``uow``, ``sessions`` and ``audit``."""

    swarm: Swarm
    backends: dict[str, Any]
    queue: Any
    uow: Any
    sessions: Any
    audit: FanoutAuditLogger
    pending_audit: Any = None

    def planner(self) -> Planner:
        return Planner(self.swarm, self.queue, self.sessions, self.audit)

    def worker(self, name: str = "w1", **settings: Any) -> Worker:
        on_dead = settings.pop("on_dead_letter", None)
        clock = settings.pop("clock", None)
        kwargs: dict[str, Any] = {
            "on_dead_letter": on_dead,
            "tenants": settings.pop("tenants", None),
            "retention": settings.pop("retention", None),
        }
        if clock is not None:
            kwargs["clock"] = clock
        return Worker(
            self.swarm,
            self.queue,
            self.backends,
            consumer=name,
            settings=WorkerSettings(**{"block_ms": 20, **settings}),
            audit=self.audit,
            pending_audit=self.pending_audit,
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
            pending=self.pending_audit,
        )


@dataclass
class Stack(_Services):
    """The Redis adapters over ``client`` (fakeredis or a real server)."""

    swarm: Swarm
    client: aioredis.Redis
    keyspace: Keyspace
    backends: dict[str, Any]
    sinks: list[AuditSink] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.queue = RedisQueue(self.client, self.keyspace)
        self.uow = RedisUnitOfWork(self.client, self.keyspace)
        self.sessions = RedisSessionStore(self.client, self.keyspace)
        self.pending_audit = RedisPendingAudit(self.client, self.keyspace)
        if not self.sinks:
            self.sinks = [RedisAuditSink(self.client, self.keyspace)]
        self.audit = FanoutAuditLogger(self.sinks)

    def keys(self, tenant: str = "acme") -> Any:
        return self.keyspace.tenant(tenant)


@dataclass
class FakeStack(_Services):
    """The in-memory fakes of the ports (``chimera.testing.FakePorts``)."""

    swarm: Swarm
    backends: dict[str, Any]
    sinks: list[AuditSink] = field(default_factory=list)
    ports: FakePorts = field(default_factory=FakePorts)

    def __post_init__(self) -> None:
        self.clock = self.ports.store.clock
        self.queue = self.ports.queue
        self.uow = self.ports.uow
        self.sessions = self.ports.sessions
        self.pending_audit = self.ports.pending_audit
        self.audit_sink = self.ports.audit_sink
        if not self.sinks:
            self.sinks = [self.audit_sink]
        self.audit = FanoutAuditLogger(self.sinks)

    def tenant(self, name: str = "acme") -> TenantData:
        """What is stored for tenant ``name``."""
        return self.ports.tenant(name)

    async def plant(self, results: list[Result], tenant: str | None = None) -> None:
        """Put Results on a result stream as a Worker would (their own tenant's by default)."""
        for result in results:
            name = tenant or result.tenant
            await self.queue.ensure_groups([name])
            self.tenant(name).results.add({BODY: result.model_dump_json()}, self.clock() * 1000)
        self.ports.store.added()
