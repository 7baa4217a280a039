"""The pipeline engine: pure functions from a pipeline and a run's state to what comes next.

No Redis, no asyncio, no clock: execution reads a run, calls these, and stores the new run
together with the tasks to enqueue in one atomic unit of work. The typical calls:

- :func:`new_run` then :func:`advance` to start a run (its root steps come back to enqueue);
- :func:`settle_task` when a task is committed, denied, parked for review or
  dead-lettered, then :func:`advance` for the steps that became ready;
- :func:`run_outcome` to report how a run stands.
"""

from chimera.services.pipeline.engine import Advance, Readiness, ReadyStep, advance, ready_steps
from chimera.services.pipeline.inputs import StepInputError, step_inputs
from chimera.services.pipeline.runs import (
    RunOutcome,
    RunStateError,
    cancel_run,
    halt_run,
    new_run,
    resume_run,
    run_outcome,
    settle_task,
    step_task_id,
)

__all__ = [
    "Advance",
    "Readiness",
    "ReadyStep",
    "RunOutcome",
    "RunStateError",
    "StepInputError",
    "advance",
    "cancel_run",
    "halt_run",
    "new_run",
    "ready_steps",
    "resume_run",
    "run_outcome",
    "settle_task",
    "step_inputs",
    "step_task_id",
]
