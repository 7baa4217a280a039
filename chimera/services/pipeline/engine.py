"""Which steps of a run go next, and the run once they have gone.

:func:`ready_steps` looks at every pending step whose needs have all settled (committed or
skipped), in graph order, and decides: skip it (its ``when`` is false, or it needs a skipped
step and has no ``when``), finish it at once (a fan-out over an empty list), fail it (its
input cannot be built), or enqueue it with one rendered input per task. Because steps are
visited in graph order, a decision is seen by the steps after it in the same pass: a skip
spreads down a chain, an empty fan-out lets its join go.

:func:`advance` applies those decisions to the run. It is what execution calls when a run
starts and after each task settles, and stores in the same unit of work as the commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from chimera.config.compiled_pipeline import CompiledPipeline
from chimera.models.pipeline import PipelineRun, RunState, StepRun, StepState, StepTask
from chimera.models.types import JsonValue
from chimera.services.pipeline.inputs import (
    RunView,
    StepInputError,
    build_inputs,
    decides_to_run,
)
from chimera.services.pipeline.runs import step_task_id, with_outcome


@dataclass(frozen=True)
class ReadyStep:
    """A step to enqueue: its skill and, per task, the task id and rendered input."""

    step: str
    skill: str
    task_ids: list[str]
    inputs: list[dict[str, JsonValue]]
    fans_out: bool = False


@dataclass(frozen=True)
class Readiness:
    """What happens to the pending steps whose needs have all settled."""

    ready: list[ReadyStep] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    """Step name to the reason it is skipped."""
    empty: list[str] = field(default_factory=list)
    """Fan-out steps over an empty list: done at once with the output ``[]``."""
    failed: dict[str, str] = field(default_factory=dict)
    """Step name to the reason its input could not be built; the run fails."""


@dataclass(frozen=True)
class Advance:
    """The run after :func:`advance`, and the tasks to enqueue with it."""

    run: PipelineRun
    enqueue: list[ReadyStep]


def ready_steps(pipeline: CompiledPipeline, run: PipelineRun) -> Readiness:
    """Decide every pending step whose needs have settled; nothing at all unless running.

    Fail fast: if any step's input cannot be built, no step is returned as ready, since
    the run has failed and its output can no longer be produced.
    """
    if run.state is not RunState.RUNNING:
        return Readiness()
    view = RunView.of(run)
    states, outputs = dict(view.states), dict(view.outputs)
    result = Readiness()
    for name in pipeline.order:
        step = pipeline.steps[name]
        if states[name] is not StepState.PENDING:
            continue
        if not all(states[need].lets_dependants_run for need in step.needs):
            continue
        current = RunView(view.input, states, outputs)
        try:
            runs, why = decides_to_run(step, current)
            if not runs:
                result.skipped[name] = why
                states[name] = StepState.SKIPPED
                continue
            inputs = build_inputs(step, current)
        except StepInputError as exc:
            result.failed[name] = exc.reason
            states[name] = StepState.FAILED
            continue
        if step.fans_out and not inputs:
            result.empty.append(name)
            states[name], outputs[name] = StepState.COMMITTED, []
            continue
        task_ids = [step_task_id(run.id, name, index) for index in range(len(inputs))]
        result.ready.append(ReadyStep(name, step.skill.name, task_ids, inputs, step.fans_out))
        states[name] = StepState.RUNNING
    if result.failed:
        return Readiness(skipped=result.skipped, empty=result.empty, failed=result.failed)
    return result


def advance(pipeline: CompiledPipeline, run: PipelineRun, *, at: datetime) -> Advance:
    """Apply :func:`ready_steps` to ``run``: skip, finish, fail or start steps.

    Returns:
        The new run (its state brought in line with its steps) and the steps to enqueue;
        when a step failed to build its input, the run has failed and nothing is enqueued.
    """
    readiness = ready_steps(pipeline, run)
    steps = dict(run.steps)
    for name, reason in readiness.skipped.items():
        steps[name] = _finish(steps[name], StepState.SKIPPED, at, reason=reason)
    for name in readiness.empty:
        steps[name] = _finish(steps[name], StepState.COMMITTED, at, output=[])
    for name, reason in readiness.failed.items():
        steps[name] = _finish(steps[name], StepState.FAILED, at, reason=reason)
    for ready in readiness.ready:
        tasks = [StepTask(task_id=task_id, enqueued_at=at) for task_id in ready.task_ids]
        steps[ready.step] = steps[ready.step].model_copy(
            update={"state": StepState.RUNNING, "tasks": tasks, "started_at": at}
        )
    updated = with_outcome(pipeline, run.model_copy(update={"steps": steps}), at)
    return Advance(updated, readiness.ready)


def _finish(
    step: StepRun,
    state: StepState,
    at: datetime,
    *,
    reason: str | None = None,
    output: JsonValue = None,
) -> StepRun:
    update = {"state": state, "reason": reason, "output": output, "finished_at": at}
    if state is StepState.COMMITTED:
        update["started_at"] = at  # an empty fan-out: started and done at once
    return step.model_copy(update=update)
