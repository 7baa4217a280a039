"""The Planner: turns submissions into validated, tenant-scoped Tasks and enqueues them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_core import to_json

from chimera.config.swarm import Swarm
from chimera.models.audit import AuditEvent, AuditEventType, event_id
from chimera.models.config import JobConfig
from chimera.models.excerpts import MAX_STORY_CHARS, cut
from chimera.models.session import SessionState
from chimera.models.task import Task
from chimera.models.types import new_id
from chimera.ports.judge import AuditLogger
from chimera.ports.queue import TaskQueue
from chimera.ports.session import SessionStore
from chimera.services.errors import RequestError
from chimera.services.quotas import TokenBudgets
from chimera.services.tenants import TenantScope, UnknownTenant
from chimera.telemetry import spans

#: Tasks per enqueue call: one round trip each, small enough to keep Redis responsive.
DEFAULT_BATCH = 500


class PlanningError(RequestError):
    """Submissions that cannot become Tasks; nothing was enqueued. One message per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class QuotaExceeded(RequestError):
    """A tenant (or one of its sessions) has used its token budget: new tasks are refused.

    Tasks already submitted still run; the budget of a day starts again at 00:00 UTC.
    """


@dataclass(frozen=True)
class Submission:
    """A request to run ``skill`` for ``tenant`` on ``input``.

    ``where`` says where the request came from (``tasks.jsonl:7``, ``swarm.yaml: jobs[2]``)
    so that a problem with it names that place; without it, problems name the position.
    """

    tenant: str
    skill: str
    input: Any
    session: str | None = None
    where: str | None = None


def expand_jobs(swarm: Swarm) -> list[Submission]:
    """The submissions the ``jobs:`` entries with ``skill:`` ask for, each ``repeat`` times.

    Entries with ``pipeline:`` are runs: see ``pipeline.tracker.expand_pipeline_jobs``.
    """
    return [
        Submission(job.tenant, job.skill, job.input, job.session, where=_job_origin(swarm, n))
        for n, job in enumerate(swarm.config.jobs)
        if job.skill is not None
        for _ in range(job.repeat)
    ]


def count_jobs(jobs: Sequence[JobConfig]) -> int:
    """How many tasks :func:`expand_jobs` makes of ``jobs``."""
    return sum(job.repeat for job in jobs)


def _job_origin(swarm: Swarm, index: int) -> str:
    return f"{swarm.path}: jobs[{index}]"


class Planner:
    """Validates submissions against the swarm and enqueues them in batches.

    Args:
        swarm: the loaded swarm (tenants, skills and their input schemas).
        queue: where tasks go.
        sessions: session lifecycle store.
        audit: receives a ``submitted`` event per task, per batch.
        batch_size: tasks per enqueue round trip.
        budgets: the tenants' token budgets (``None``: not checked); a submission past
            one is refused whole, and the refusal audited.
    """

    def __init__(
        self,
        swarm: Swarm,
        queue: TaskQueue,
        sessions: SessionStore,
        audit: AuditLogger | None = None,
        batch_size: int = DEFAULT_BATCH,
        budgets: TokenBudgets | None = None,
    ) -> None:
        self.swarm = swarm
        self.queue = queue
        self.sessions = sessions
        self.audit = audit
        self.batch_size = batch_size
        self.budgets = budgets
        self.scope = TenantScope(swarm.tenants)

    def build(self, item: Submission, default_session: str) -> Task:
        """Validate one submission and return its Task.

        Raises:
            PlanningError: unknown tenant or skill, skill not allowed for the tenant, or
                input that does not match the skill's input schema.
        """
        try:
            self.scope.check([item.tenant])
        except UnknownTenant as exc:
            raise PlanningError([str(exc)]) from None
        if item.skill not in self.swarm.skills:
            raise PlanningError([f"unknown skill {item.skill!r}"])
        if not self.swarm.tenant_may_run(item.tenant, item.skill):
            raise PlanningError([f"tenant {item.tenant!r} may not run skill {item.skill!r}"])
        skill = self.swarm.skill(item.skill)
        if not isinstance(item.input, dict):
            raise PlanningError([f"input for skill {item.skill!r} must be a JSON object"])
        errors = skill.input_errors(item.input)
        if errors:
            raise PlanningError([f"input does not match skill {item.skill!r}: {e}" for e in errors])
        try:
            return Task(
                tenant=item.tenant,
                session=item.session or default_session,
                skill=item.skill,
                input=item.input,
                max_attempts=skill.config.retry.max_attempts,
                skill_fingerprint=skill.fingerprint,
            )
        except ValidationError as exc:
            raise PlanningError([_first_line(err["msg"]) for err in exc.errors()]) from None

    async def submit(self, items: Sequence[Submission], session: str | None = None) -> list[Task]:
        """Validate every submission, then enqueue all of them; all or nothing.

        Args:
            items: what to run.
            session: the session of items that name none; a new id when omitted.

        Returns:
            The enqueued Tasks, in order.

        Raises:
            PlanningError: listing every invalid submission (by its ``where``, else by
                position: ``item N``); none enqueued.
        """
        default_session = session or new_id()
        tasks: list[Task] = []
        problems: list[str] = []
        for index, item in enumerate(items, start=1):
            try:
                tasks.append(self.build(item, default_session))
            except PlanningError as exc:
                origin = item.where or f"item {index}"
                problems.extend(f"{origin}: {p}" for p in exc.problems)
        if problems:
            raise PlanningError(problems)
        await self._check_budgets(tasks)
        for tenant, session_id in sorted({(t.tenant, t.session) for t in tasks}):
            await self.sessions.open(tenant, session_id)
        for start in range(0, len(tasks), self.batch_size):
            # While tracing, each task starts its own trace here and takes that trace's id.
            with spans.Sending(tasks[start : start + self.batch_size]) as sending:
                batch = sending.tasks
                tasks[start : start + len(batch)] = batch
                if self.audit is not None:
                    await self.audit.record([submitted_event(task) for task in batch])
                sending.sent(await self.queue.enqueue(batch, sending.traceparents))
        for tenant, session_id in sorted({(t.tenant, t.session) for t in tasks}):
            info = await self.sessions.get(tenant, session_id)
            if info is not None and info.stored_state is SessionState.OPEN:
                await self.sessions.set_state(tenant, session_id, SessionState.RUNNING)
        return tasks

    async def _check_budgets(self, tasks: Sequence[Task]) -> None:
        """Refuse the whole submission (audited) when a tenant or session is past a budget.

        Raises:
            QuotaExceeded: naming every budget used up.
        """
        if self.budgets is None:
            return
        overruns = await self.budgets.overruns(tasks)
        if not overruns:
            return
        if self.audit is not None:
            await self.audit.record([overrun.event() for overrun in overruns])
        raise QuotaExceeded("; ".join(overrun.message() for overrun in overruns))


def submitted_event(task: Task) -> AuditEvent:
    """The `submitted` audit event of ``task`` (its input, or an excerpt of a large one)."""
    # The input goes with the record: once the task settles, its ledger row (the only other
    # copy) is gone, and `chimera task show` still shows what was asked. A large input is
    # kept as an excerpt of its JSON.
    data: dict[str, Any] = {"skill": task.skill, "attempt": task.attempt}
    text = to_json(task.input).decode()
    if len(text) > MAX_STORY_CHARS:
        data["input_excerpt"] = cut(text)
    else:
        data["input"] = task.input
    # A pipeline step's story names its run and step once the task has settled.
    if task.run is not None:
        data["run"] = task.run
        data["step"] = task.step
    return AuditEvent(
        id=event_id(AuditEventType.SUBMITTED, task.id),
        type=AuditEventType.SUBMITTED,
        tenant=task.tenant,
        session=task.session,
        task_id=task.id,
        trace_id=task.trace_id,
        actor="planner",
        data=data,
    )


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else text
