"""The composition root: the one place that wires adapters to services.

Services see only ports; this module picks the Redis adapters, builds the plugin objects the
swarm names, and hands each service what it needs.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pluggy
import redis.asyncio as aioredis

from chimera.config.swarm import Skill, Swarm
from chimera.lib import redis_faults
from chimera.lib.decoded import DecodedCache
from chimera.lib.keys import DEFAULT_PREFIX, Keyspace
from chimera.lib.logging import get_logger
from chimera.lib.redis_audit import RedisAuditTrail
from chimera.lib.redis_cancel import RedisTaskCanceller
from chimera.lib.redis_connect import check_reachable, connect, is_access_denied
from chimera.lib.redis_pending_audit import RedisPendingAudit
from chimera.lib.redis_presence import RedisPresenceStore
from chimera.lib.redis_queue import RedisQueue
from chimera.lib.redis_retention import RedisRetention
from chimera.lib.redis_runs import RedisRunStore
from chimera.lib.redis_sessions import RedisSessionStore
from chimera.lib.redis_stores import RedisDeadLetterStore, RedisResultStore, RedisReviewStore
from chimera.lib.redis_task_status import RedisTaskStatusStore
from chimera.lib.redis_uow import RedisUnitOfWork
from chimera.lib.redis_usage import RedisUsageStore
from chimera.models.task import Task
from chimera.plugins.context import PluginContext
from chimera.plugins.contracts import PluginError as PluginError  # re-exported for the CLI
from chimera.plugins.manager import get_plugin_manager
from chimera.plugins.registry import Registry, build_registry
from chimera.ports.judge import AuditSink, CommitOutcome, Judged, JudgePolicy
from chimera.ports.llm import LLMBackend
from chimera.ports.metrics import NO_METRICS, Metrics
from chimera.ports.queue import DeadLetter, Delivery
from chimera.ports.tools import ToolBinding, Toolbox
from chimera.services.audit import FanoutAuditLogger
from chimera.services.audit_trail import AuditReader
from chimera.services.cancel import CancelService
from chimera.services.dead_letters import DeadLetterService
from chimera.services.judge import Judge, JudgeSettings
from chimera.services.outcomes import TaskLookup
from chimera.services.pipeline.keeper import RunKeeper
from chimera.services.planner import Planner
from chimera.services.quotas import TokenBudgets
from chimera.services.results import CommittedResults
from chimera.services.retention import RetentionSweep
from chimera.services.review import ReviewService
from chimera.services.sessions import SessionControl
from chimera.services.status import SwarmStatus
from chimera.services.story.build import Pricing
from chimera.services.story.service import TaskStories
from chimera.services.tenant_api import TenantApi
from chimera.services.tenants import TenantScope
from chimera.services.tool_catalog import skill_tools
from chimera.services.usage import Tokens
from chimera.services.worker import Worker, WorkerSettings
from chimera.services.worker.core import attempt_budget

log = get_logger("chimera.bootstrap")


def consumer_name(role: str) -> str:
    """A consumer name unique across machines and processes: role, host, pid, random."""
    return f"{role}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass
class Runtime:
    """Everything a command needs to run a swarm against one Redis."""

    swarm: Swarm
    client: aioredis.Redis
    keyspace: Keyspace
    queue: RedisQueue
    uow: RedisUnitOfWork
    sessions: RedisSessionStore
    audit: FanoutAuditLogger
    backends: dict[str, LLMBackend]
    policies: dict[str, JudgePolicy]
    plugin_manager: pluggy.PluginManager
    registry: Registry
    sinks: list[AuditSink] = field(default_factory=list)
    toolbox: Toolbox | None = None
    _keepers: dict[str, RunKeeper] = field(default_factory=dict, repr=False)

    @property
    def pending_audit(self) -> RedisPendingAudit:
        """Audit events the scripts keep beside their changes until the sinks have them."""
        return RedisPendingAudit(self.client, self.keyspace)

    def planner(self) -> Planner:
        """A Planner writing to this runtime's queue."""
        budgets = TokenBudgets(
            self.swarm, RedisUsageStore(self.client, self.keyspace), self.sessions
        )
        return Planner(self.swarm, self.queue, self.sessions, self.audit, budgets=budgets)

    def worker(
        self,
        tenants: Sequence[str] | None = None,
        settings: WorkerSettings | None = None,
        on_dead_letter: Callable[[Delivery[Any], DeadLetter], None] | None = None,
        consumer: str | None = None,
        metrics: Metrics = NO_METRICS,
    ) -> Worker:
        """A Worker over this runtime's queue and backends, sweeping what retention lets go."""
        name = consumer or consumer_name("worker")
        return Worker(
            self.swarm,
            self.queue,
            self.backends,
            consumer=name,
            tenants=tenants,
            settings=settings,
            audit=self.audit,
            on_dead_letter=on_dead_letter,
            pending_audit=self.pending_audit,
            toolbox=self.toolbox,
            tools_for=self._tools_for if self.toolbox is not None else None,
            classify=redis_faults.classify,
            metrics=metrics,
            retention=self.retention(name, tenants),
        )

    def run_keeper(self, actor: str = "chimera") -> RunKeeper:
        """Starts and advances this swarm's pipeline runs.

        One keeper per actor, kept: its script stays loaded across calls.
        """
        if actor not in self._keepers:
            self._keepers[actor] = self._new_keeper(actor)
        return self._keepers[actor]

    def _new_keeper(self, actor: str) -> RunKeeper:
        return RunKeeper(
            self.swarm,
            RedisRunStore(self.client, self.keyspace),
            RedisTaskStatusStore(self.client, self.keyspace),
            sessions=self.sessions,
            audit=self.audit,
            pending=self.pending_audit,
            actor=actor,
        )

    def retention(self, owner: str, tenants: Sequence[str] | None = None) -> RetentionSweep:
        """The retention sweep of ``tenants`` (default: all), by ``owner``."""
        return RetentionSweep(
            RedisRetention(self.client, self.keyspace),
            self.swarm.config.retention,
            tenants or self.swarm.tenants,
            owner,
        )

    async def _tools_for(self, skill: Skill, tenant: str) -> dict[str, ToolBinding]:
        """The tools ``skill`` may call for ``tenant`` (the toolbox caches server listings)."""
        assert self.toolbox is not None
        return await skill_tools(skill.config, self.swarm.config.mcp_servers, self.toolbox, tenant)

    def judge(
        self,
        tenants: Sequence[str] | None = None,
        on_outcome: Callable[[Judged, CommitOutcome], None] | None = None,
        settings: JudgeSettings | None = None,
        consumer: str | None = None,
        metrics: Metrics = NO_METRICS,
    ) -> Judge:
        """A Judge over this runtime's result queue, policies and audit sinks."""
        hook = self.plugin_manager.hook

        # A hook no plugin implements is not called: pluggy's call costs microseconds per
        # Result even with nothing to run. Asked at each call, so a plugin registered
        # later is still called.
        def after_decision(decision: Any) -> None:
            if hook.chimera_after_decision.get_hookimpls():
                hook.chimera_after_decision(decision=decision)

        def after_commit(item: Judged, outcome: CommitOutcome) -> None:
            if item.decision is not None and hook.chimera_after_commit.get_hookimpls():
                hook.chimera_after_commit(
                    task_id=item.decision.task_id,
                    tenant=item.delivery.tenant,
                    outcome=outcome.value,
                )

        name = consumer or consumer_name("judge")
        # This process's Worker (if any) keeps the tasks it reads and the Results it
        # publishes by their text; this Judge reads those texts back and reuses them.
        self.queue.decoded.enable()
        self.uow.decoded.enable()
        return Judge(
            self.swarm,
            self.queue,
            self.uow,
            self.policies,
            self.audit,
            consumer=name,
            tenants=tenants,
            settings=settings,
            on_outcome=on_outcome,
            runs=self.run_keeper(name) if self.swarm.pipelines else None,
            after_decision=after_decision,
            after_commit=after_commit,
            classify=redis_faults.classify,
            pending=self.pending_audit,
            metrics=metrics,
        )

    def presence(self) -> RedisPresenceStore:
        """Heartbeats of live Worker/Judge processes."""
        return RedisPresenceStore(self.client, self.keyspace)

    def review(self) -> ReviewService:
        """Human review over this runtime's Redis and audit sinks."""
        return ReviewService(
            RedisReviewStore(self.client, self.keyspace),
            self.audit,
            self.swarm.tenants,
            pending_audit=self.pending_audit,
            attempt_budget=self.attempt_budget,
        )

    def attempt_budget(self, task: Task) -> int:
        """How many attempts ``task`` may have: its skill's limit."""
        return attempt_budget(task, self.swarm.skills.get(task.skill))

    def lookup(self) -> TaskLookup:
        """Tasks by id: where they stand, waiting for them, following a session."""
        return TaskLookup(self.task_states(), self.sessions, self.scope)

    def cancel(self) -> CancelService:
        """Cancelling tasks and sessions, audited."""
        return CancelService(
            RedisTaskCanceller(self.client, self.keyspace),
            self.task_states(),
            self.sessions,
            self.audit,
            self.scope,
            pending_audit=self.pending_audit,
        )

    def dead_letters(self) -> DeadLetterService:
        """Dead-letter listing and replay."""
        return DeadLetterService(
            RedisDeadLetterStore(self.client, self.keyspace), self.audit, self.swarm.tenants
        )

    @property
    def scope(self) -> TenantScope:
        """The swarm's tenants, for the services that check a requested tenant."""
        return TenantScope(self.swarm.tenants)

    def results(self) -> CommittedResults:
        """Committed results."""
        return CommittedResults(RedisResultStore(self.client, self.keyspace), self.scope)

    def session_control(self) -> SessionControl:
        """Listing, halting and resuming sessions."""
        return SessionControl(self.sessions, self.scope)

    def status(self) -> SwarmStatus:
        """Per-tenant queue figures; a tenant this Redis user may not read says so."""
        return SwarmStatus(
            self.queue,
            self.scope,
            access_denied=is_access_denied,
            presence=self.presence(),
            sessions=self.sessions,
        )

    def audit_trail(self) -> AuditReader:
        """Reading back the ``redis`` audit sink's hash-chained trail."""
        return AuditReader(RedisAuditTrail(self.client, self.keyspace), self.scope)

    def task_stories(self) -> TaskStories:
        """Whole stories of tasks by id (``chimera task show``)."""
        has_trail = "redis" in self.swarm.config.audit.sinks
        pricing = self.swarm.config.pricing

        def price_of(skill: str) -> Pricing | None:
            found = self.swarm.skills.get(skill)
            price = pricing.models.get(found.config.model or "") if found else None
            if price is None:
                return None
            return lambda tokens_in, tokens_out: Tokens(tokens_in, tokens_out).cost(price)

        return TaskStories(
            self.task_states(),
            RedisAuditTrail(self.client, self.keyspace) if has_trail else None,
            RedisReviewStore(self.client, self.keyspace),
            RedisDeadLetterStore(self.client, self.keyspace),
            self.scope,
            price_of=price_of,
            currency=pricing.currency,
        )

    def task_states(self) -> RedisTaskStatusStore:
        """Tasks looked up by id (``chimera run`` sees what other processes settled)."""
        return RedisTaskStatusStore(self.client, self.keyspace)

    def tenant_api(self, tenant: str) -> TenantApi:
        """One tenant's view of the swarm (what ``chimera mcp serve`` answers with).

        Raises:
            ApiError: unknown tenant.
        """
        return TenantApi(
            tenant,
            self.swarm,
            self.planner(),
            RedisReviewStore(self.client, self.keyspace),
            self.audit,
            RedisResultStore(self.client, self.keyspace),
            RedisTaskStatusStore(self.client, self.keyspace),
            self.queue,
        )

    async def close(self) -> None:
        """Close MCP sessions, plugin objects that hold resources (``aclose``), then Redis."""
        things: list[Any] = [self.toolbox] if self.toolbox is not None else []
        for thing in [*things, *self.backends.values(), *self.policies.values(), *self.sinks]:
            closer = getattr(thing, "aclose", None)
            if closer is not None:
                try:
                    await closer()
                except Exception:
                    log.exception("plugin.close_failed", plugin=getattr(thing, "name", "?"))
        await self.client.aclose()


async def build_runtime(
    swarm: Swarm,
    redis_url: str | None,
    prefix: str = DEFAULT_PREFIX,
    plugin_manager: pluggy.PluginManager | None = None,
    client: aioredis.Redis | None = None,
    role: str = "cli",
) -> Runtime:
    """Connect to Redis (embedded when ``redis_url`` is empty) and build every adapter.

    Raises:
        InvalidRedisUrl: ``redis_url`` cannot name a Redis server.
        RedisUnavailable: the server did not answer, or refused the credentials.
    """
    client = client or connect(redis_url, client_name=f"chimera-{role}-{os.getpid()}")
    try:
        return await _assemble(swarm, client, redis_url, prefix, plugin_manager)
    except BaseException:
        await client.aclose()
        raise


async def _assemble(
    swarm: Swarm,
    client: aioredis.Redis,
    redis_url: str | None,
    prefix: str,
    plugin_manager: pluggy.PluginManager | None,
) -> Runtime:
    await check_reachable(client, redis_url)
    keyspace = Keyspace(prefix)
    pm = plugin_manager or get_plugin_manager()
    registry = build_registry(pm)
    context = PluginContext(redis=client, keyspace=keyspace, swarm=swarm)
    backend_names = {skill.config.backend for skill in swarm.skills.values()}
    backends = {
        name: registry.build_backend(name, context)
        for name in backend_names
        if name in registry.backends
    }
    policy_names = {
        swarm.judge_for(tenant, skill).policy
        for tenant in swarm.tenants
        for skill in swarm.config.tenants[tenant].skills
    }
    policies = {
        name: registry.build_policy(name, context)
        for name in policy_names
        if name in registry.policies
    }
    sinks = [registry.build_sink(name, context) for name in swarm.config.audit.sinks]
    decoded = DecodedCache()  # shared: what the Worker validated, the Judge reuses
    return Runtime(
        swarm=swarm,
        client=client,
        keyspace=keyspace,
        queue=RedisQueue(client, keyspace, decoded),
        uow=RedisUnitOfWork(client, keyspace, decoded),
        sessions=RedisSessionStore(client, keyspace),
        audit=FanoutAuditLogger(sinks),
        backends=backends,
        policies=policies,
        plugin_manager=pm,
        registry=registry,
        sinks=sinks,
        toolbox=_toolbox(swarm),
    )


def _toolbox(swarm: Swarm) -> Toolbox | None:
    """The MCP toolbox when the swarm has servers (sessions open on first use).

    Imported here: the MCP SDK takes most of a second to import, which commands that use
    no tools should not pay.
    """
    if not swarm.config.mcp_servers:
        return None
    from chimera.lib.mcp import build_toolbox

    return build_toolbox(swarm)
