"""A run's state, changed one fact at a time: started, a task settled, cancelled, halted.

Every function takes a :class:`PipelineRun` and returns a new one (runs are frozen); none
touches Redis or the clock, so execution can compute the next state, then store it in the
same atomic unit of work as the commit that caused it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from chimera.config.compiled_pipeline import CompiledPipeline
from chimera.models.pipeline import PipelineRun, RunState, StepRun, StepState, StepTask
from chimera.models.types import JsonObject, JsonValue

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

#: What a task may become from what it is. A task in review may go back to the queue
#: (a human or the policy asked for another attempt); settled tasks stay as they are.
_NEXT = {
    StepState.RUNNING: frozenset(
        {
            StepState.REVIEW,
            StepState.COMMITTED,
            StepState.DENIED,
            StepState.DEAD_LETTERED,
            StepState.CANCELLED,
        }
    ),
    StepState.REVIEW: frozenset(
        {
            StepState.RUNNING,
            StepState.COMMITTED,
            StepState.DENIED,
            StepState.DEAD_LETTERED,
            StepState.CANCELLED,
        }
    ),
}


class RunStateError(ValueError):
    """A change that cannot apply to this run (unknown task, a settled task changing)."""


@dataclass(frozen=True)
class RunOutcome:
    """How a run stands, computed from its steps."""

    state: RunState
    failed_step: str | None = None
    reason: str | None = None
    output: JsonValue = None
    in_flight: int = 0
    """Tasks still queued, running or waiting for review (they may finish after a failure)."""

    @property
    def finished(self) -> bool:
        """True once the run succeeded, failed or was cancelled."""
        return self.state in (RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED)


def step_task_id(run_id: str, step: str, index: int = 0) -> str:
    """The task id of item ``index`` of ``step`` in run ``run_id`` (0 for a plain step).

    Deterministic, so computing the next steps twice gives the same task ids and a
    duplicate enqueue is recognisable; a valid ULID that sorts with its run (the run's
    timestamp, then 80 bits of a hash of run, step and index).
    """
    digest = hashlib.blake2b(f"{run_id}/{step}/{index}".encode(), digest_size=10).digest()
    number = int.from_bytes(digest, "big")
    tail = "".join(_CROCKFORD[(number >> shift) & 31] for shift in range(75, -1, -5))
    return run_id[:10] + tail


def new_run(
    pipeline: CompiledPipeline,
    *,
    run_id: str,
    tenant: str,
    session: str,
    input: JsonObject,
    at: datetime,
    trace_id: str | None = None,
) -> PipelineRun:
    """A run with every step pending; :func:`~chimera.services.pipeline.advance` starts it.

    Raises:
        RunStateError: ``input`` breaks the pipeline's ``input_schema``.
    """
    errors = pipeline.input_errors(input)
    if errors:
        raise RunStateError(f"input does not match pipeline {pipeline.name!r}: {'; '.join(errors)}")
    extra = {} if trace_id is None else {"trace_id": trace_id}
    return PipelineRun(
        id=run_id,
        pipeline=pipeline.name,
        tenant=tenant,
        session=session,
        input=input,
        steps={name: StepRun() for name in pipeline.config.steps},
        created_at=at,
        **extra,
    )


def settle_task(
    pipeline: CompiledPipeline,
    run: PipelineRun,
    task_id: str,
    state: StepState,
    *,
    at: datetime,
    output: JsonObject | None = None,
    reason: str | None = None,
) -> PipelineRun:
    """Record what became of one task, then of its step and of the run.

    Settling a task again in the state it already has changes nothing, so a duplicate
    commit is harmless.

    Raises:
        RunStateError: no task has this id, the change is not allowed (a committed task
            cannot be denied), or a commit comes without an output.
    """
    name, index = _find(run, task_id)
    step = run.steps[name]
    task = step.tasks[index]
    if task.state is state:
        return run
    if state not in _NEXT.get(task.state, frozenset()):
        raise RunStateError(
            f"task {task_id} of step {name!r} cannot go from {task.state} to {state}"
        )
    if state is StepState.COMMITTED and output is None:
        raise RunStateError(f"task {task_id} of step {name!r} is committed without an output")
    settled = state.settled
    updated = task.model_copy(
        update={
            "state": state,
            "output": output if state is StepState.COMMITTED else None,
            "reason": reason,
            "finished_at": at if settled else None,
        }
    )
    tasks = [*step.tasks[:index], updated, *step.tasks[index + 1 :]]
    steps = {**run.steps, name: _aggregate(step, tasks, pipeline.steps[name].fans_out, at)}
    return with_outcome(pipeline, run.model_copy(update={"steps": steps}), at)


def cancel_run(
    pipeline: CompiledPipeline, run: PipelineRun, *, at: datetime, reason: str = "cancelled"
) -> PipelineRun:
    """Cancel a run: its pending steps never start; execution drops its queued tasks."""
    if run.state in (RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED):
        return run
    steps = {
        name: _cancelled(step, at, reason) if step.state is StepState.PENDING else step
        for name, step in run.steps.items()
    }
    update = {"steps": steps, "state": RunState.CANCELLED, "reason": reason, "finished_at": at}
    return run.model_copy(update=update)


def halt_run(run: PipelineRun) -> PipelineRun:
    """Mark a running run halted (its session was halted): nothing new is enqueued."""
    if run.state is not RunState.RUNNING:
        return run
    return run.model_copy(update={"state": RunState.HALTED})


def resume_run(pipeline: CompiledPipeline, run: PipelineRun, *, at: datetime) -> PipelineRun:
    """Take a halted run back to where its steps put it; ``advance`` then enqueues again."""
    if run.state is not RunState.HALTED:
        return run
    return with_outcome(pipeline, run.model_copy(update={"state": RunState.RUNNING}), at)


def run_outcome(pipeline: CompiledPipeline, run: PipelineRun) -> RunOutcome:
    """How the run stands, from its steps.

    In order: a cancelled run stays cancelled; a step denied, dead-lettered or failed fails
    the run (the earliest to finish is named); a run whose every step is committed or
    skipped succeeded, with the output step's output (``None`` if that step was skipped);
    otherwise a halted run stays halted and any other is running.
    """
    in_flight = sum(
        1
        for step in run.steps.values()
        for task in step.tasks
        if task.state in (StepState.RUNNING, StepState.REVIEW)
    )
    if run.state is RunState.CANCELLED:
        return RunOutcome(RunState.CANCELLED, reason=run.reason, in_flight=in_flight)
    failing = [name for name in pipeline.order if run.steps[name].state.fails_run]
    if failing:
        first = min(failing, key=lambda name: _finish_key(run.steps[name]))
        step = run.steps[first]
        reason = (
            f"step {first!r} {step.state.value.replace('_', '-')}: {step.reason or 'no reason'}"
        )
        return RunOutcome(RunState.FAILED, first, reason, in_flight=in_flight)
    if all(step.state.lets_dependants_run for step in run.steps.values()):
        output = run.steps[pipeline.output].output
        return RunOutcome(RunState.SUCCEEDED, output=output, in_flight=in_flight)
    if run.state is RunState.HALTED:
        return RunOutcome(RunState.HALTED, in_flight=in_flight)
    return RunOutcome(RunState.RUNNING, in_flight=in_flight)


def with_outcome(pipeline: CompiledPipeline, run: PipelineRun, at: datetime) -> PipelineRun:
    """``run`` with its state, reason, output and end time brought in line with its steps.

    When the run has just failed, its pending steps are cancelled: they can never start.
    """
    outcome = run_outcome(pipeline, run)
    steps = run.steps
    if outcome.state is RunState.FAILED and run.state is not RunState.FAILED:
        note = f"the run failed at step {outcome.failed_step!r}"
        steps = {
            name: _cancelled(step, at, note) if step.state is StepState.PENDING else step
            for name, step in steps.items()
        }
    finished_at = run.finished_at or (at if outcome.finished else None)
    update = {
        "state": outcome.state,
        "failed_step": outcome.failed_step,
        "reason": outcome.reason,
        "output": outcome.output,
        "steps": steps,
        "finished_at": finished_at,
    }
    return run.model_copy(update=update)


def _find(run: PipelineRun, task_id: str) -> tuple[str, int]:
    for name, step in run.steps.items():
        for index, task in enumerate(step.tasks):
            if task.task_id == task_id:
                return name, index
    raise RunStateError(f"run {run.id} has no task {task_id}")


def _aggregate(step: StepRun, tasks: list[StepTask], fans_out: bool, at: datetime) -> StepRun:
    """A step's state from its tasks: one failing task fails it; all committed commit it."""
    update: dict[str, object] = {"tasks": tasks}
    failing = next((t for t in tasks if t.state.fails_run), None)
    if step.state.fails_run:
        pass  # the first failure stands; items settling later only update their own record
    elif failing is not None:
        label = f"item {tasks.index(failing)}: " if fans_out else ""
        update |= {
            "state": failing.state,
            "reason": f"{label}{failing.reason or 'no reason given'}",
            "finished_at": at,
        }
    elif all(t.state is StepState.COMMITTED for t in tasks):
        outputs = [t.output for t in tasks]
        update |= {
            "state": StepState.COMMITTED,
            "output": outputs if fans_out else outputs[0],
            "finished_at": at,
        }
    elif any(t.state is StepState.REVIEW for t in tasks):
        update["state"] = StepState.REVIEW
    elif all(t.state.settled for t in tasks):
        update |= {"state": StepState.CANCELLED, "finished_at": at}
    else:
        update["state"] = StepState.RUNNING
    return step.model_copy(update=update)


def _cancelled(step: StepRun, at: datetime, reason: str) -> StepRun:
    return step.model_copy(
        update={"state": StepState.CANCELLED, "reason": reason, "finished_at": at}
    )


def _finish_key(step: StepRun) -> tuple[bool, float]:
    # Steps without an end time sort last; pipeline.order breaks ties (min keeps the first).
    at = step.finished_at
    return (at is None, at.timestamp() if at is not None else 0.0)
