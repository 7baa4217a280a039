"""What one tenant may see and do from outside: submit, follow tasks, review, status.

``chimera mcp serve`` answers each client through the ``TenantApi`` of the tenant its token
(or ``--tenant``) names. Every method is scoped to that tenant by construction: the review
service it holds knows no other tenant, and lookups go to that tenant's keys only, so an id
belonging to another tenant reads as unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chimera.config.swarm import Swarm
from chimera.models.result import Result
from chimera.models.task import Task
from chimera.ports.judge import AuditLogger
from chimera.ports.queue import QueueStats, TenantStats
from chimera.ports.stores import ResultStore, ReviewItem, ReviewStore, TaskStatus, TaskStatusStore
from chimera.services.planner import Planner, PlanningError, Submission
from chimera.services.review import HumanDecision, ReviewNotFound, ReviewService
from chimera.services.tenants import TenantScope, UnknownTenant
from chimera.services.worker.core import attempt_budget

#: Most committed results one listing returns.
MAX_RESULTS = 500


class ApiError(Exception):
    """A request the tenant can fix (unknown skill, bad input, nothing to review)."""


@dataclass(frozen=True)
class SkillInfo:
    """A skill as a client sees it: what it does and the shape of its input and output."""

    name: str
    version: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    tools: list[str]
    sensitive: bool


class TenantApi:
    """One tenant's view of the swarm.

    Args:
        tenant: whose view this is.
        swarm: the loaded swarm.
        planner: validates and enqueues submissions.
        reviews: the review queue store.
        audit: where human decisions are recorded.
        results: committed results.
        tasks: task lookups by id.
        stats: queue figures.
    """

    def __init__(
        self,
        tenant: str,
        swarm: Swarm,
        planner: Planner,
        reviews: ReviewStore,
        audit: AuditLogger,
        results: ResultStore,
        tasks: TaskStatusStore,
        stats: QueueStats,
    ) -> None:
        try:
            TenantScope(swarm.tenants).check([tenant])
        except UnknownTenant as exc:
            raise ApiError(str(exc)) from None
        self.tenant = tenant
        self.swarm = swarm
        self._planner = planner
        skills = swarm.skills
        self._review = ReviewService(
            reviews,
            audit,
            [tenant],
            attempt_budget=lambda t: attempt_budget(t, skills.get(t.skill)),
        )
        self._results = results
        self._tasks = tasks
        self._stats = stats

    def skills(self) -> list[SkillInfo]:
        """The skills this tenant may run, in the order swarm.yaml lists them."""
        return [self.skill(name) for name in self.swarm.config.tenants[self.tenant].skills]

    def skill(self, name: str) -> SkillInfo:
        """One skill this tenant may run.

        Raises:
            ApiError: the tenant may not run it (or it does not exist).
        """
        if not self.swarm.tenant_may_run(self.tenant, name):
            raise ApiError(f"no skill {name!r} for tenant {self.tenant!r}")
        config = self.swarm.skill(name).config
        return SkillInfo(
            name=config.name,
            version=config.version,
            description=config.description,
            input_schema=dict(config.input_schema),
            output_schema=dict(config.output_schema),
            tools=list(config.tools),
            sensitive=config.sensitive,
        )

    async def submit(self, skill: str, input: Any, session: str | None = None) -> Task:
        """Validate and enqueue one task.

        Raises:
            ApiError: unknown skill, a skill the tenant may not run, or input that does
                not match the skill's input schema.
        """
        try:
            [task] = await self._planner.submit([Submission(self.tenant, skill, input, session)])
        except PlanningError as exc:
            raise ApiError("; ".join(p.removeprefix("item 1: ") for p in exc.problems)) from None
        return task

    async def task(self, task_id: str) -> TaskStatus:
        """Where ``task_id`` stands; ``unknown`` for ids of other tenants."""
        return await self._tasks.status(self.tenant, task_id)

    async def results(self, session: str | None = None, limit: int = 50) -> list[Result]:
        """The newest committed results (oldest first), optionally of one session."""
        committed = await self._results.committed(self.tenant)
        if session is not None:
            committed = [r for r in committed if r.session == session]
        limit = max(1, min(limit, MAX_RESULTS))
        return committed[-limit:]

    async def reviews(self) -> list[ReviewItem]:
        """Results of this tenant waiting for a human."""
        return [item for _, item in await self._review.pending(self.tenant)]

    async def decide(
        self, task_id: str, approve: bool, actor: str, note: str | None = None
    ) -> HumanDecision:
        """Approve (commit) or reject a parked Result of this tenant; audited.

        Raises:
            ApiError: nothing of this tenant waits for review under ``task_id``.
        """
        try:
            return await self._review.decide(task_id, approve, actor, note)
        except ReviewNotFound as exc:
            raise ApiError(str(exc)) from None

    async def status(self) -> TenantStats:
        """This tenant's queue figures."""
        return await self._stats.stats(self.tenant)
