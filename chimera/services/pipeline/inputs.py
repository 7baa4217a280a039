"""What a step sees and gets: its template context, its ``when``, its items and its input.

Templates see the run's ``input`` and, for every step the step needs directly or through
other steps, ``steps.<name>.status`` and ``steps.<name>.output`` (``None`` unless committed;
a fan-out step's output is the list of its items' outputs). A fan-out step's input also
sees ``item`` and ``index``. Everything here is pure: the same run gives the same answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chimera.config.compiled_pipeline import CompiledPipeline, CompiledStep
from chimera.config.pipeline_templates import Expression, render_value
from chimera.config.templates import TemplateRenderError
from chimera.models.pipeline import PipelineRun, StepState
from chimera.models.types import JsonValue


class StepInputError(Exception):
    """A step's input cannot be built; the step fails (and with it the run) with ``reason``."""

    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"step {step!r}: {reason}")
        self.step = step
        self.reason = reason


@dataclass(frozen=True)
class RunView:
    """The parts of a run that templates read: its input, step states and outputs."""

    input: Mapping[str, Any]
    states: Mapping[str, StepState]
    outputs: Mapping[str, JsonValue]

    @classmethod
    def of(cls, run: PipelineRun) -> RunView:
        """The view of a stored run."""
        return cls(
            input=run.input,
            states={name: step.state for name, step in run.steps.items()},
            outputs={
                name: step.output if step.state is StepState.COMMITTED else None
                for name, step in run.steps.items()
            },
        )


def template_context(step: CompiledStep, view: RunView) -> dict[str, Any]:
    """The variables of ``step``'s templates (without ``item`` and ``index``)."""
    steps = {
        name: {"status": view.states[name].value, "output": view.outputs.get(name)}
        for name in step.ancestors
    }
    return {"input": view.input, "steps": steps}


def decides_to_run(step: CompiledStep, view: RunView) -> tuple[bool, str]:
    """Whether a step whose needs are all settled runs, and if not, why it is skipped.

    A step with its own ``when`` decides by it, even after a skipped step; a step without
    one is skipped when any step it needs was skipped.

    Raises:
        StepInputError: ``when`` failed to evaluate.
    """
    if step.when is not None:
        value = _evaluate(step, step.when, "when", template_context(step, view))
        return (True, "") if value else (False, f"when was false: {step.when.source}")
    for need in step.needs:
        if view.states[need] is StepState.SKIPPED:
            return False, f"it needs {need!r}, which was skipped"
    return True, ""


def fan_out_items(step: CompiledStep, view: RunView) -> list[JsonValue]:
    """The items of a fan-out step, in order.

    Raises:
        StepInputError: ``for_each`` failed to evaluate, or gave something other than a list.
    """
    assert step.for_each is not None, "only a step with for_each fans out"
    items = _evaluate(step, step.for_each, "for_each", template_context(step, view))
    if not isinstance(items, list):
        kind = "null" if items is None else type(items).__name__
        raise StepInputError(step.name, f"for_each must give a list, not {kind}")
    return items


def build_inputs(step: CompiledStep, view: RunView) -> list[dict[str, JsonValue]]:
    """The input of each task of ``step``: one, or one per item of a fan-out.

    Each input is checked against the skill's ``input_schema``.

    Raises:
        StepInputError: a template failed, or an input breaks the skill's schema.
    """
    context = template_context(step, view)
    if not step.fans_out:
        return [_render(step, context, "")]
    inputs = []
    for index, item in enumerate(fan_out_items(step, view)):
        inputs.append(_render(step, {**context, "item": item, "index": index}, f"item {index}: "))
    return inputs


def step_inputs(
    pipeline: CompiledPipeline, run: PipelineRun, step: str
) -> list[dict[str, JsonValue]]:
    """The rendered input of ``step`` in ``run`` (one per item of a fan-out).

    Raises:
        StepInputError: a template failed, ``for_each`` gave no list, or an input breaks the
            skill's ``input_schema``.
        KeyError: the pipeline has no such step.
    """
    return build_inputs(pipeline.steps[step], RunView.of(run))


def _render(step: CompiledStep, context: Mapping[str, Any], label: str) -> dict[str, JsonValue]:
    try:
        value = render_value(step.input, context)
    except TemplateRenderError as exc:
        raise StepInputError(step.name, f"{label}{exc}") from None
    errors = step.skill.input_errors(value)
    if errors:
        reason = f"{label}input does not match skill {step.skill.name!r}: {'; '.join(errors)}"
        raise StepInputError(step.name, reason)
    rendered: dict[str, JsonValue] = value
    return rendered


def _evaluate(step: CompiledStep, expression: Expression, key: str, context: Any) -> Any:
    try:
        return expression.evaluate(context)
    except TemplateRenderError as exc:
        raise StepInputError(step.name, f"{key}: {exc}") from None
