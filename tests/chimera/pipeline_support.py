"""Pipelines for tests: small swarms written as YAML, and a pure driver for the engine.

The driver plays the part execution will play: it starts a run, hands out the tasks the
engine asks for, settles them as a test says, and advances the run after each one. It
keeps every enqueued task, so tests can assert that each step ran exactly once.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from chimera.config.compiled_pipeline import CompiledPipeline
from chimera.config.loader import load_swarm
from chimera.config.swarm import Swarm
from chimera.models.pipeline import PipelineRun, StepState
from chimera.models.types import new_id
from chimera.services.pipeline import advance, new_run, settle_task

#: A general-purpose skill: text in; text, a list, a category and a number out.
WORK_SKILL: dict[str, Any] = {
    "name": "work",
    "prompt": "Work on {{ text }}",
    "input_schema": {
        "type": "object",
        "required": ["text"],
        "additionalProperties": False,
        "properties": {
            "text": {"type": "string"},
            "count": {"type": "integer"},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
    },
    "output_schema": {
        "type": "object",
        "required": ["text"],
        "properties": {
            "text": {"type": "string"},
            "parts": {"type": "array", "items": {"type": "string"}},
            "category": {"enum": ["a", "b"]},
            "n": {"type": "integer"},
            "items": {"type": "array", "items": {"type": "string"}},
            "detail": {
                "type": "object",
                "properties": {"score": {"type": "number"}, "note": {"type": "string"}},
            },
        },
    },
}

#: A join: takes a list of anything, gives text.
GATHER_SKILL: dict[str, Any] = {
    "name": "gather",
    "prompt": "Gather {{ parts }}",
    "input_schema": {
        "type": "object",
        "required": ["parts"],
        "properties": {"parts": {"type": "array"}, "note": {"type": "string"}},
    },
    "output_schema": {
        "type": "object",
        "required": ["text"],
        "properties": {"text": {"type": "string"}},
    },
}

INPUT_SCHEMA = """\
input_schema:
  type: object
  required: [text]
  properties:
    text: {type: string}
    words: {type: array, items: {type: string}}
    count: {type: integer}
    flag: {type: boolean}
"""


def pipeline_yaml(steps: str, output: str, name: str = "p") -> str:
    """A pipeline called ``name`` with :data:`INPUT_SCHEMA`, ``steps`` (YAML) and ``output``."""
    return (
        f"{name}:\n"
        + textwrap.indent(INPUT_SCHEMA, "  ")
        + "  steps:\n"
        + textwrap.indent(textwrap.dedent(steps).rstrip("\n") + "\n", "    ")
        + f"  output: {output}\n"
    )


def write_project(
    folder: Path,
    pipelines: str,
    *,
    jobs: str = "",
    tenants: str = "",
    skills: tuple[dict[str, Any], ...] = (WORK_SKILL, GATHER_SKILL),
) -> Path:
    """Write skills and a swarm.yaml whose ``pipelines:`` section is ``pipelines`` (YAML)."""
    (folder / "skills").mkdir(parents=True, exist_ok=True)
    for skill in skills:
        (folder / "skills" / f"{skill['name']}.yaml").write_text(yaml.safe_dump(skill))
    names = ", ".join(s["name"] for s in skills)
    text = (
        "version: 1\nskills: [skills/*.yaml]\n"
        + (textwrap.dedent(tenants) if tenants else f"tenants:\n  acme: {{skills: [{names}]}}\n")
        + "pipelines:\n"
        + textwrap.indent(textwrap.dedent(pipelines), "  ")
        + (textwrap.dedent(jobs) if jobs else "")
    )
    path = folder / "swarm.yaml"
    path.write_text(text)
    return path


def load_pipeline(folder: Path, pipelines: str, name: str = "p") -> CompiledPipeline:
    """Write and load a project; return its pipeline ``name``."""
    swarm: Swarm = load_swarm(write_project(folder, pipelines))
    return swarm.pipelines[name]


@dataclass(frozen=True)
class Enqueued:
    """A task the engine asked for."""

    step: str
    task_id: str
    input: dict[str, Any]
    index: int


@dataclass
class Driver:
    """Runs one pipeline run through the engine, as execution would, without Redis."""

    pipeline: CompiledPipeline
    run: PipelineRun
    enqueued: list[Enqueued] = field(default_factory=list)
    ticks: int = 0

    @classmethod
    def start(cls, pipeline: CompiledPipeline, input: dict[str, Any]) -> Driver:
        """Create the run and advance it once (the root steps are enqueued)."""
        run = new_run(
            pipeline,
            run_id=new_id(),
            tenant="acme",
            session="s1",
            input=input,
            at=datetime(2025, 1, 1, tzinfo=UTC),
        )
        driver = cls(pipeline, run)
        driver._advance()
        return driver

    def now(self) -> datetime:
        """A clock that moves one second per event."""
        self.ticks += 1
        return datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=self.ticks)

    def _advance(self) -> None:
        result = advance(self.pipeline, self.run, at=self.now())
        self.run = result.run
        for ready in result.enqueue:
            for index, (task_id, value) in enumerate(
                zip(ready.task_ids, ready.inputs, strict=True)
            ):
                self.enqueued.append(Enqueued(ready.step, task_id, value, index))

    def settle(
        self,
        task: Enqueued,
        state: StepState = StepState.COMMITTED,
        output: dict[str, Any] | None = None,
        reason: str | None = None,
    ) -> None:
        """Settle one task (commit with a default output) and advance the run."""
        if state is StepState.COMMITTED and output is None:
            output = {"text": f"{task.step}#{task.index}"}
        self.run = settle_task(
            self.pipeline,
            self.run,
            task.task_id,
            state,
            at=self.now(),
            output=output,
            reason=reason,
        )
        self._advance()

    def tasks(self, step: str) -> list[Enqueued]:
        """Every task enqueued for ``step``, in item order."""
        return [t for t in self.enqueued if t.step == step]

    def task(self, step: str) -> Enqueued:
        """The only task of a plain step."""
        (found,) = self.tasks(step)
        return found

    def steps_enqueued(self) -> list[str]:
        """Step names in the order they were first enqueued."""
        return list(dict.fromkeys(t.step for t in self.enqueued))

    def pending_tasks(self) -> list[Enqueued]:
        """Tasks enqueued and not yet settled."""
        states = {
            task.task_id: task.state for step in self.run.steps.values() for task in step.tasks
        }
        return [t for t in self.enqueued if states[t.task_id] is StepState.RUNNING]

    def commit_all(self, output: Callable[[Enqueued], dict[str, Any]] | None = None) -> None:
        """Commit queued tasks first in, first out, until none is left."""
        while pending := self.pending_tasks():
            task = pending[0]
            self.settle(task, output=output(task) if output else None)
