"""Pipelines: skills chained into a graph (``pipelines:`` in swarm.yaml) and a run's state.

The configuration half (:class:`PipelineConfig`, :class:`PipelineStep`) is what a user
writes; the loader checks it against the skills (``chimera.config.pipelines``). The run half
(:class:`PipelineRun` and the records in it) is what execution stores and
``chimera.services.pipeline`` computes, one pure step at a time.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from chimera.models.types import (
    SAFE_ID_PATTERN,
    JsonObject,
    JsonValue,
    SessionId,
    SkillName,
    TaskId,
    TenantId,
    TraceId,
    new_trace_id,
)

#: Step names are used in templates as ``steps.<name>``, so they must be identifiers.
STEP_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"

PipelineName = Annotated[str, StringConstraints(pattern=SAFE_ID_PATTERN)]
StepName = Annotated[str, StringConstraints(pattern=STEP_NAME_PATTERN)]
RunId = TaskId


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- configuration ---------------------------------------------------------------------


class PipelineStep(_Strict):
    """One step of a pipeline: a skill, the steps it waits for, and how its input is built."""

    skill: SkillName = Field(description="The skill this step runs.")
    needs: list[StepName] = Field(
        default_factory=list,
        description="Steps that must be committed (or skipped) first; none makes a root step.",
    )
    when: str | None = Field(
        default=None,
        min_length=1,
        description="Jinja expression (no braces); false skips the step. A step with its own "
        "'when' decides for itself even when a step it needs was skipped.",
    )
    for_each: str | None = Field(
        default=None,
        min_length=1,
        description="Jinja expression (no braces) giving a list: one task per item, which the "
        "input sees as 'item' and 'index'. The step's output is the list of item outputs.",
    )
    input: dict[str, JsonValue] = Field(
        default_factory=dict,
        description="The skill's input. Strings are templates over 'input', 'steps.<name>.output',"
        " 'steps.<name>.status' (and 'item', 'index' with for_each); a string that is exactly "
        "one '{{ expression }}' gives the expression's value, list or object included.",
    )


class PipelineConfig(_Strict):
    """A named graph of steps with a typed input; its output is one step's output."""

    description: str = ""
    input_schema: dict[str, JsonValue] = Field(description="JSON Schema of a run's input.")
    steps: dict[StepName, PipelineStep] = Field(min_length=1)
    output: StepName = Field(description="The step whose committed output is the run's output.")


# --- run state -------------------------------------------------------------------------


class StepState(StrEnum):
    """Where a step (or one task of a fan-out step) stands in a run."""

    PENDING = "pending"
    """Waiting for the steps it needs."""
    RUNNING = "running"
    """Enqueued: its task (or some of its item tasks) is queued or running."""
    REVIEW = "review"
    """A task waits for a human; the step's dependants wait with it."""
    COMMITTED = "committed"
    SKIPPED = "skipped"
    """Its ``when`` was false, or it needs a skipped step and has no ``when`` of its own."""
    DENIED = "denied"
    DEAD_LETTERED = "dead_lettered"
    FAILED = "failed"
    """Never enqueued: its input could not be built (a template failed to render,
    ``for_each`` gave no list, or the input breaks the skill's ``input_schema``)."""
    CANCELLED = "cancelled"

    @property
    def settled(self) -> bool:
        """True when nothing more will happen to the step."""
        return self in _SETTLED

    @property
    def fails_run(self) -> bool:
        """True for the states that make a run's output impossible."""
        return self in _FAILING

    @property
    def lets_dependants_run(self) -> bool:
        """True when steps that need this one may be considered."""
        return self in (StepState.COMMITTED, StepState.SKIPPED)


_FAILING = frozenset({StepState.DENIED, StepState.DEAD_LETTERED, StepState.FAILED})
_SETTLED = _FAILING | {StepState.COMMITTED, StepState.SKIPPED, StepState.CANCELLED}


class RunState(StrEnum):
    """Where a pipeline run stands."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    """A step was denied, dead-lettered or failed; nothing new is enqueued."""
    CANCELLED = "cancelled"
    HALTED = "halted"
    """Its session is halted; nothing new is enqueued until it resumes."""


class StepTask(_Strict):
    """One task of a step: the step's only task, or one item of a fan-out."""

    task_id: TaskId
    state: StepState = StepState.RUNNING
    output: JsonObject | None = None
    reason: str | None = None
    enqueued_at: datetime
    finished_at: datetime | None = None


class StepRun(_Strict):
    """One step in one run."""

    state: StepState = StepState.PENDING
    tasks: list[StepTask] = Field(
        default_factory=list, description="One task, or one per item of a fan-out, in order."
    )
    output: JsonValue = Field(
        default=None,
        description="The committed output: an object, or for a fan-out the list of item outputs.",
    )
    reason: str | None = Field(default=None, description="Why it was skipped, denied or failed.")
    started_at: datetime | None = None
    finished_at: datetime | None = None


class PipelineRun(_Strict):
    """One execution of a pipeline: its input, every step's state and the outcome."""

    id: RunId
    pipeline: PipelineName
    tenant: TenantId
    session: SessionId
    input: JsonObject
    state: RunState = RunState.RUNNING
    steps: dict[StepName, StepRun]
    failed_step: StepName | None = Field(
        default=None, description="The step that failed the run, when it failed."
    )
    reason: str | None = None
    output: JsonValue = Field(default=None, description="The output step's committed output.")
    trace_id: TraceId = Field(default_factory=new_trace_id)
    traceparent: str | None = Field(
        default=None,
        max_length=64,
        description="W3C trace context of the run's span: every step's spans go under it.",
    )
    created_at: datetime
    finished_at: datetime | None = None
