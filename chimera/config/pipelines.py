"""Check ``pipelines:`` (and the jobs that name one) against the skills, with file:line.

The checks, in the order a reader fixes them: the pipeline's ``input_schema``; each step's
skill and ``needs``; cycles (named step by step); the ``output`` step; templates that do not
compile; then, per step, what its templates read and whether its input fits its skill
(:mod:`chimera.config.pipeline_step_checks`); finally the jobs that run a pipeline: the
pipeline exists, its tenant lists every skill of its steps, and the input fits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from jsonschema.exceptions import SchemaError
from jsonschema.validators import validator_for

from chimera.config.compiled_pipeline import CompiledPipeline, CompiledStep
from chimera.config.errors import Problem, unknown_message
from chimera.config.pipeline_graph import ancestors, find_cycle, topological_order
from chimera.config.pipeline_step_checks import StepScope, check_step
from chimera.config.pipeline_templates import (
    CompiledValue,
    Expression,
    compile_value,
    format_path,
)
from chimera.config.swarm import Skill, compile_validator
from chimera.config.templates import TemplateProblem
from chimera.config.yaml_source import Loc, SourceMap
from chimera.models.config import SwarmConfig
from chimera.models.pipeline import PipelineConfig


@dataclass
class _Checking:
    source: SourceMap
    problems: list[Problem] = field(default_factory=list)

    def add(self, loc: Loc, message: str, lineno: int = 1) -> None:
        """Report ``message`` at ``loc``, ``lineno`` lines into the template found there."""
        pos = self.source.position(loc)
        # A block scalar's text starts on the line after its indicator (``|``).
        offset = lineno if pos.block else lineno - 1
        self.problems.append(self.source.problem(loc, message, line_offset=offset))


def check_pipelines(
    config: SwarmConfig, skills: Mapping[str, Skill], source: SourceMap
) -> tuple[dict[str, CompiledPipeline], list[Problem]]:
    """Check every pipeline and every job that names one.

    Args:
        config: the swarm file.
        skills: the skills that loaded (a skill that failed to load counts as unknown).
        source: positions in the swarm file.

    Returns:
        The pipelines that compiled, and one problem per mistake found anywhere.
    """
    state = _Checking(source)
    compiled: dict[str, CompiledPipeline] = {}
    for name, pipeline in config.pipelines.items():
        result = _check_pipeline(name, pipeline, skills, state)
        if result is not None:
            compiled[name] = result
    _check_jobs(config, state)
    return compiled, state.problems


def _check_pipeline(
    name: str, pipeline: PipelineConfig, skills: Mapping[str, Skill], state: _Checking
) -> CompiledPipeline | None:
    at: Loc = ("pipelines", name)
    before = len(state.problems)
    try:
        validator_for(pipeline.input_schema).check_schema(pipeline.input_schema)
    except SchemaError as exc:
        loc = (*at, "input_schema", *exc.path)
        state.add(loc, f"input_schema is not a valid JSON Schema: {exc.message}")
        return None
    for step_name, step in pipeline.steps.items():
        step_at = (*at, "steps", step_name)
        said = f"step {step_name!r}:"
        if step.skill not in skills:
            state.add((*step_at, "skill"), f"{said} {unknown_message('skill', step.skill, skills)}")
        seen: set[str] = set()
        for index, need in enumerate(step.needs):
            loc = (*step_at, "needs", index)
            if need == step_name:
                state.add(loc, f"{said} a step cannot need itself")
            elif need not in pipeline.steps:
                state.add(loc, f"{said} needs {unknown_message('step', need, pipeline.steps)}")
            elif need in seen:
                state.add(loc, f"{said} {need!r} is listed twice in needs")
            seen.add(need)
    if pipeline.output not in pipeline.steps:
        message = unknown_message("step", pipeline.output, pipeline.steps)
        state.add((*at, "output"), f"output: {message}")
    needs = {s: [n for n in step.needs if n != s] for s, step in pipeline.steps.items()}
    cycle = find_cycle(needs)
    if cycle is not None:
        state.add(
            (*at, "steps", cycle[0], "needs"),
            f"the steps of pipeline {name!r} form a cycle: {' -> '.join(cycle)}",
        )
        return None
    found = ancestors(needs)
    steps = {}
    for step_name in pipeline.steps:
        compiled = _compile_step(name, pipeline, step_name, found[step_name], skills, state)
        if compiled is not None:
            steps[step_name] = compiled
    if len(state.problems) > before:
        return None
    return CompiledPipeline(
        name=name,
        config=pipeline,
        steps=steps,
        order=tuple(topological_order(needs)),
        input_validator=compile_validator(pipeline.input_schema),
    )


def _compile_step(
    pipeline_name: str,
    pipeline: PipelineConfig,
    name: str,
    step_ancestors: frozenset[str],
    skills: Mapping[str, Skill],
    state: _Checking,
) -> CompiledStep | None:
    at: Loc = ("pipelines", pipeline_name, "steps", name)
    step = pipeline.steps[name]
    expressions: dict[str, Expression | None] = {"when": None, "for_each": None}
    for key in expressions:
        text = getattr(step, key)
        if text is None:
            continue
        try:
            expressions[key] = Expression.compile(text)
        except TemplateProblem as exc:
            state.add((*at, key), f"step {name!r}: {key}: {exc.message}", exc.lineno)
    value: CompiledValue
    value, problems = compile_value(step.input)
    for path, problem in problems:
        message = f"step {name!r}: {format_path(path)}: {problem.message}"
        state.add((*at, "input", *path), message, problem.lineno)
    if problems or any(getattr(step, k) is not None and v is None for k, v in expressions.items()):
        return None
    scope = StepScope(
        pipeline=pipeline_name,
        input_schema=pipeline.input_schema,
        steps=pipeline.steps,
        skills=skills,
        name=name,
        ancestors=step_ancestors,
        fans_out=step.for_each is not None,
    )
    for finding in check_step(scope, expressions["when"], expressions["for_each"], value):
        state.add((*at, *finding.loc), f"step {name!r}: {finding.message}", finding.lineno)
    skill = skills.get(step.skill)
    if skill is None:
        return None
    return CompiledStep(
        name=name,
        config=step,
        skill=skill,
        ancestors=step_ancestors,
        input=value,
        when=expressions["when"],
        for_each=expressions["for_each"],
    )


def _check_jobs(config: SwarmConfig, state: _Checking) -> None:
    for index, job in enumerate(config.jobs):
        tenant = config.tenants.get(job.tenant)
        if job.pipeline is None or tenant is None:
            continue  # skill jobs and unknown tenants are the loader's to report
        at: Loc = ("jobs", index)
        pipeline = config.pipelines.get(job.pipeline)
        if pipeline is None:
            message = unknown_message("pipeline", job.pipeline, config.pipelines)
            state.add((*at, "pipeline"), message)
            continue
        missing = sorted({step.skill for step in pipeline.steps.values()} - set(tenant.skills))
        if missing:
            state.add(
                (*at, "pipeline"),
                f"tenant {job.tenant!r} may not run pipeline {job.pipeline!r}: it does not "
                f"list {', '.join(map(repr, missing))} (a tenant runs a pipeline when it "
                "lists the skill of every step)",
            )
        try:
            validator_for(pipeline.input_schema).check_schema(pipeline.input_schema)
        except SchemaError:
            continue  # reported at the pipeline's input_schema
        validator = compile_validator(pipeline.input_schema)
        for error in sorted(validator.iter_errors(job.input), key=lambda e: list(e.absolute_path)):
            loc = (*at, "input", *error.absolute_path)
            state.add(loc, f"input does not match pipeline {job.pipeline!r}: {error.message}")
