"""A pipeline ready to run: its checked configuration with every template compiled."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jsonschema.protocols import Validator

from chimera.config.pipeline_templates import CompiledValue, Expression
from chimera.models.pipeline import PipelineConfig, PipelineStep

if TYPE_CHECKING:
    from chimera.config.swarm import Skill


@dataclass(frozen=True)
class CompiledStep:
    """One step: its skill, where it sits in the graph, and its compiled templates."""

    name: str
    config: PipelineStep
    skill: Skill
    ancestors: frozenset[str]
    input: CompiledValue
    when: Expression | None = None
    for_each: Expression | None = None

    @property
    def needs(self) -> list[str]:
        """The steps this one waits for directly."""
        return self.config.needs

    @property
    def fans_out(self) -> bool:
        """True when the step runs one task per item of its ``for_each`` list."""
        return self.for_each is not None


@dataclass(frozen=True)
class CompiledPipeline:
    """A checked pipeline: steps in an order where each comes after the steps it needs."""

    name: str
    config: PipelineConfig
    steps: Mapping[str, CompiledStep]
    order: tuple[str, ...]
    input_validator: Validator

    @property
    def output(self) -> str:
        """The step whose committed output is the run's output."""
        return self.config.output

    @property
    def skills(self) -> frozenset[str]:
        """Every skill a run of this pipeline may use; a tenant must list all of them."""
        return frozenset(step.config.skill for step in self.steps.values())

    def skills_missing(self, allowed: Collection[str]) -> list[str]:
        """The pipeline's skills that are not in ``allowed`` (a tenant's skills), sorted."""
        return sorted(self.skills - set(allowed))

    def input_errors(self, value: Any) -> list[str]:
        """One message per way ``value`` breaks the pipeline's ``input_schema``."""
        errors = sorted(self.input_validator.iter_errors(value), key=lambda e: list(e.path))
        return [f"${''.join(_step(p) for p in e.absolute_path)}: {e.message}" for e in errors]


def _step(part: Any) -> str:
    return f"[{part}]" if isinstance(part, int) else f".{part}"
