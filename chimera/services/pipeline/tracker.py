"""The pipeline runs one ``chimera run`` starts, and whether they have come to rest."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from chimera.config.swarm import Swarm
from chimera.models.pipeline import PipelineRun, RunState, StepState
from chimera.models.task import Task
from chimera.models.types import JsonObject
from chimera.services.pipeline.keeper import RunError, RunKeeper
from chimera.services.planner import PlanningError

_FINISHED = (RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED)


@dataclass(frozen=True)
class RunRequest:
    """A request to run ``pipeline`` for ``tenant`` on ``input`` (``where``: its origin)."""

    tenant: str
    pipeline: str
    input: JsonObject
    session: str | None = None
    where: str | None = None


def expand_pipeline_jobs(swarm: Swarm) -> list[RunRequest]:
    """The runs the swarm file's ``jobs:`` entries with ``pipeline:`` ask for."""
    return [
        RunRequest(job.tenant, job.pipeline, job.input, job.session, f"{swarm.path}: jobs[{n}]")
        for n, job in enumerate(swarm.config.jobs)
        if job.pipeline is not None
        for _ in range(job.repeat)
    ]


def at_rest(run: PipelineRun) -> bool:
    """True when nothing more happens to ``run`` without a human.

    That is: it finished, it is halted, or every task it has in flight waits for review.
    """
    if run.state in _FINISHED or run.state is RunState.HALTED:
        return True
    return not any(
        task.state is StepState.RUNNING for step in run.steps.values() for task in step.tasks
    )


class RunTracker:
    """Starts the runs of one ``chimera run`` and follows them until they are at rest."""

    def __init__(self, keeper: RunKeeper, requests: Sequence[RunRequest]) -> None:
        self.keeper = keeper
        self.requests = list(requests)
        self.runs: dict[str, PipelineRun] = {}

    async def start(self, session: str | None) -> list[PipelineRun]:
        """Start every requested run (all are checked first: none starts if one is bad).

        Raises:
            PlanningError: naming each bad request by its origin.
        """
        problems = []
        for index, request in enumerate(self.requests, start=1):
            origin = request.where or f"run {index}"
            if request.pipeline not in self.keeper.swarm.pipelines:
                problems.append(f"{origin}: unknown pipeline {request.pipeline!r}")
            elif not self.keeper.swarm.tenant_may_run_pipeline(request.tenant, request.pipeline):
                problems.append(
                    f"{origin}: tenant {request.tenant!r} may not run pipeline {request.pipeline!r}"
                )
            else:
                errors = self.keeper.swarm.pipelines[request.pipeline].input_errors(request.input)
                problems += [f"{origin}: input: {error}" for error in errors]
        if problems:
            raise PlanningError(problems)
        for request in self.requests:
            try:
                run = await self.keeper.start(
                    request.tenant, request.pipeline, request.input, request.session or session
                )
            except RunError as exc:
                raise PlanningError([f"{request.where or request.pipeline}: {exc}"]) from None
            self.runs[run.id] = run
        return list(self.runs.values())

    def owns(self, task: Task) -> bool:
        """True when ``task`` is a step of one of these runs."""
        return task.run is not None and task.run in self.runs

    async def refresh(self) -> bool:
        """Read every run again; True when all of them are at rest."""
        by_tenant: dict[str, list[str]] = defaultdict(list)
        for run in self.runs.values():
            by_tenant[run.tenant].append(run.id)
        for tenant, ids in by_tenant.items():
            for run_id, stored in (await self.keeper.runs.load(tenant, ids)).items():
                self.runs[run_id] = stored.run
        return all(at_rest(run) for run in self.runs.values())
