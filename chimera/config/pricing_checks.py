"""Load-time checks of the swarm's ``pricing:`` table."""

from __future__ import annotations

import difflib
from collections.abc import Mapping

from chimera.config.errors import Problem
from chimera.config.swarm import Skill
from chimera.config.yaml_source import KEY, SourceMap
from chimera.models.config import SwarmConfig


def check_pricing(
    config: SwarmConfig, skills: Mapping[str, Skill], source: SourceMap
) -> list[Problem]:
    """A priced model must be one a skill names in ``model:``: a misspelt one prices nothing.

    Costs are looked up by the model a skill names; a skill that names none leaves the
    choice to its backend and has no price.
    """
    named = sorted({skill.config.model for skill in skills.values() if skill.config.model})
    problems = []
    for model in config.pricing.models:
        if model in named:
            continue
        message = f"no skill names model {model!r}"
        close = difflib.get_close_matches(model, named, n=1, cutoff=0.6)
        if close:
            message += f"; did you mean {close[0]!r}?"
        if named:
            message += f" (skills name: {', '.join(named)})"
        problems.append(source.problem(("pricing", "models", model, KEY), message))
    return problems
