"""A stored run brought in line with the facts about it: its tasks' outcomes, its session.

Pure: :class:`~chimera.services.pipeline.keeper.RunKeeper` reads the facts for a batch of
runs at once, then applies them to each run here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from chimera.config.compiled_pipeline import CompiledPipeline
from chimera.lib.logging import get_logger
from chimera.models.pipeline import PipelineRun, RunState, StepState
from chimera.models.types import JsonObject
from chimera.ports.stores import TaskState, TaskStatus
from chimera.services.pipeline import (
    RunStateError,
    cancel_run,
    halt_run,
    resume_run,
    settle_task,
)

log = get_logger("chimera.pipeline")

_FROM_TASK = {
    TaskState.COMMITTED: StepState.COMMITTED,
    TaskState.DENIED: StepState.DENIED,
    TaskState.DEAD_LETTERED: StepState.DEAD_LETTERED,
    TaskState.CANCELLED: StepState.CANCELLED,
    TaskState.REVIEW: StepState.REVIEW,
}


@dataclass(frozen=True)
class RunFacts:
    """Read once for a batch of runs: their open tasks' outcomes, their halted sessions."""

    statuses: Mapping[str, TaskStatus]
    halted: set[tuple[str, str]] | None
    """``None``: sessions are not watched."""


def open_tasks(run: PipelineRun) -> list[str]:
    """The ids of the run's tasks still queued, running or waiting for review."""
    return [
        task.task_id
        for step in run.steps.values()
        for task in step.tasks
        if task.state in (StepState.RUNNING, StepState.REVIEW)
    ]


def finished(run: PipelineRun) -> bool:
    """Whether the run succeeded, failed or was cancelled."""
    return run.state in (RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED)


def _output(status: TaskStatus | None) -> JsonObject | None:
    if status is None or status.state is not TaskState.COMMITTED or status.result is None:
        return None
    return status.result.output


def _reason(state: StepState, task_id: str) -> str | None:
    if state in (StepState.DENIED, StepState.DEAD_LETTERED):
        return f"{state.value.replace('_', '-')} (chimera task show {task_id} tells why)"
    return None


def observe(
    compiled: CompiledPipeline,
    run: PipelineRun,
    reasons: Mapping[str, str],
    facts: RunFacts,
    now: datetime,
) -> PipelineRun:
    """``run`` with what became of its open tasks, its session's halt, a cancelled step.

    A finished run still records its open tasks as they settle (a cancelled run's
    running task, a failed run's independent branch), so it does not show them running
    for ever; its state and outcome stay as they are.
    """
    done = finished(run)
    open_ids = set(open_tasks(run))
    for step in run.steps.values():
        for task in step.tasks:
            if task.task_id not in open_ids:
                continue
            status = facts.statuses.get(task.task_id)
            state = _FROM_TASK.get(status.state, StepState.RUNNING) if status else None
            state = state or StepState.RUNNING  # pending: queued, running or retried
            if state is task.state:
                continue
            try:
                run = settle_task(
                    compiled,
                    run,
                    task.task_id,
                    state,
                    at=now,
                    output=_output(status),
                    reason=reasons.get(task.task_id) or _reason(state, task.task_id),
                )
            except RunStateError as exc:
                log.warning("pipeline.task_change_refused", run_id=run.id, error=str(exc))
    if done:
        return run
    if facts.halted is not None:
        halted = (run.tenant, run.session) in facts.halted
        run = halt_run(run) if halted else resume_run(compiled, run, at=now)
    if run.state is RunState.RUNNING:
        dropped = [n for n, s in run.steps.items() if s.state is StepState.CANCELLED]
        if dropped:
            reason = f"step {dropped[0]!r} was cancelled"
            run = cancel_run(compiled, run, at=now, reason=reason)
    return run
