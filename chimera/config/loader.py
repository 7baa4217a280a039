"""Turn ``swarm.yaml`` and its skill files into a validated :class:`Swarm`.

Every problem found is reported at once, each with the ``file:line:col`` of the YAML node
at fault, so a user fixes a broken swarm in one pass rather than one error per run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chimera.config.errors import ConfigError, Problem, unknown_message
from chimera.config.limits import MAX_SKILL_BYTES, MAX_SKILL_FILES
from chimera.config.mcp_checks import check_mcp
from chimera.config.pipelines import check_pipelines
from chimera.config.pricing_checks import check_pricing
from chimera.config.skill_files import PatternTooBroad, match_skill_files
from chimera.config.skill_loader import KnownNames, load_skill
from chimera.config.swarm import Skill, Swarm, judge_levels, schema_errors
from chimera.config.validation import validate_model
from chimera.config.yaml_source import KEY, Loc, SourceMap, load_yaml
from chimera.models.config import SwarmConfig

__all__ = ["KnownNames", "load_skill", "load_swarm", "validate_model"]

_unknown = unknown_message


@dataclass
class _Loading:
    problems: list[Problem] = field(default_factory=list)

    def add(self, problem: Problem) -> None:
        self.problems.append(problem)


def load_swarm(path: str | Path, known: KnownNames | None = None) -> Swarm:
    """Load and cross-check a swarm file and every skill file it names.

    Whatever the files hold, only :class:`ConfigError` comes out, within the bounds of
    :mod:`chimera.config.limits`.

    Args:
        path: the ``swarm.yaml`` to load.
        known: registered plugin names to check references against.

    Returns:
        The validated swarm; its ``source`` and each skill's keep the files' positions.

    Raises:
        ConfigError: listing every problem found, each with its file and position.
    """
    swarm_path = Path(path)
    data, source = load_yaml(swarm_path)
    config = validate_model(SwarmConfig, data, source)
    state = _Loading()
    skills = _load_skills(config, swarm_path, source, state, known or KnownNames())
    _check_tenants(config, skills, source, state)
    _check_judge(config, skills, source, state, known or KnownNames())
    _check_jobs(config, skills, source, state)
    state.problems.extend(check_mcp(config, skills, source, (known or KnownNames()).tool_backends))
    pipelines, problems = check_pipelines(config, skills, source)
    state.problems.extend(problems)
    state.problems.extend(check_pricing(config, skills, source))
    if state.problems:
        raise ConfigError(state.problems)
    return Swarm(config=config, path=swarm_path, skills=skills, source=source, pipelines=pipelines)


def _load_skills(
    config: SwarmConfig,
    swarm_path: Path,
    source: SourceMap,
    state: _Loading,
    known: KnownNames,
) -> dict[str, Skill]:
    base = swarm_path.parent
    skills: dict[str, Skill] = {}
    seen_files: set[Path] = set()
    total = 0
    for index, pattern in enumerate(config.skills):
        try:
            files = match_skill_files(base, pattern)
        except PatternTooBroad as exc:
            state.add(source.problem(("skills", index), f"{pattern[:80]!r}: {exc}; narrow it"))
            continue
        if not files:
            state.add(source.problem(("skills", index), f"no skill file matches {pattern!r}"))
            continue
        for file in files:
            resolved = file.resolve()
            if resolved in seen_files:
                continue
            seen_files.add(resolved)
            total += _size(file)
            if len(seen_files) > MAX_SKILL_FILES or total > MAX_SKILL_BYTES:
                message = (
                    f"more than {MAX_SKILL_FILES} skill files"
                    if len(seen_files) > MAX_SKILL_FILES
                    else f"the skill files total more than {MAX_SKILL_BYTES // 2**20} MiB"
                )
                state.add(source.problem(("skills", index), f"{message}; the rest are not loaded"))
                return skills
            try:
                skill = load_skill(file, known)
            except ConfigError as exc:
                state.problems.extend(exc.problems)
                continue
            if skill.name in skills:
                first = skills[skill.name].path
                skill_source = skill.source or SourceMap(file)
                state.add(
                    skill_source.problem(
                        ("name",), f"duplicate skill name {skill.name!r} (first defined in {first})"
                    )
                )
                continue
            skills[skill.name] = skill
    return skills


def _size(file: Path) -> int:
    try:
        return file.stat().st_size
    except OSError:  # load_skill reports it, with the reason
        return 0


def _check_tenants(
    config: SwarmConfig, skills: Mapping[str, Skill], source: SourceMap, state: _Loading
) -> None:
    for tenant, tenant_config in config.tenants.items():
        for index, name in enumerate(tenant_config.skills):
            if name not in skills:
                loc: Loc = ("tenants", tenant, "skills", index)
                state.add(source.problem(loc, _unknown("skill", name, skills)))
        for name in tenant_config.judge.skills:
            if name not in tenant_config.skills:
                key_loc: Loc = ("tenants", tenant, "judge", "skills", name, KEY)
                state.add(
                    source.problem(key_loc, f"tenant {tenant!r} does not list skill {name!r}")
                )


def _check_judge(
    config: SwarmConfig,
    skills: Mapping[str, Skill],
    source: SourceMap,
    state: _Loading,
    known: KnownNames,
) -> None:
    for name in config.judge.skills:
        if name not in skills:
            state.add(
                source.problem(("judge", "skills", name, KEY), _unknown("skill", name, skills))
            )
    for index, sink in enumerate(config.audit.sinks):
        if known.sinks is not None and sink not in known.sinks:
            state.add(
                source.problem(("audit", "sinks", index), _unknown("audit sink", sink, known.sinks))
            )
    for tenant, tenant_config in config.tenants.items():
        for skill in tenant_config.skills:
            levels = judge_levels(config, tenant, skill)
            _check_levels(levels, config, tenant, skill, source, state, known)


def _level_loc(config: SwarmConfig, tenant: str, skill: str, level: object) -> Loc:
    tenant_judge = config.tenants[tenant].judge
    if level is config.judge:
        return ("judge",)
    if level is tenant_judge:
        return ("tenants", tenant, "judge")
    if level is config.judge.skills.get(skill):
        return ("judge", "skills", skill)
    return ("tenants", tenant, "judge", "skills", skill)


def _check_levels(
    levels: list[Any],
    config: SwarmConfig,
    tenant: str,
    skill: str,
    source: SourceMap,
    state: _Loading,
    known: KnownNames,
) -> None:
    approve = review = None
    approve_level = review_level = levels[0]
    for level in levels:
        if level.approve_at is not None:
            approve, approve_level = level.approve_at, level
        if level.review_at is not None:
            review, review_level = level.review_at, level
        if known.policies is not None and level.policy and level.policy not in known.policies:
            loc = (*_level_loc(config, tenant, skill, level), "policy")
            state.add(source.problem(loc, _unknown("policy", level.policy, known.policies)))
    if approve is not None and review is not None and review > approve:
        # Point at whichever level was written last: that is the one that broke the order.
        culprit = levels.index(approve_level) > levels.index(review_level)
        level, field_name = (
            (approve_level, "approve_at") if culprit else (review_level, "review_at")
        )
        loc = (*_level_loc(config, tenant, skill, level), field_name)
        scopes: dict[Loc, str] = {
            ("judge",): "",
            ("tenants", tenant, "judge"): f" for tenant {tenant!r}",
            ("judge", "skills", skill): f" for skill {skill!r}",
        }
        scope = scopes.get(loc[:-1], f" for tenant {tenant!r} and skill {skill!r}")
        state.add(
            source.problem(
                loc,
                f"review_at ({review}) is above approve_at ({approve}){scope}; "
                "expected review_at <= approve_at",
            )
        )


def _check_jobs(
    config: SwarmConfig, skills: Mapping[str, Skill], source: SourceMap, state: _Loading
) -> None:
    for index, job in enumerate(config.jobs):
        tenant_config = config.tenants.get(job.tenant)
        if tenant_config is None:
            state.add(
                source.problem(
                    ("jobs", index, "tenant"), _unknown("tenant", job.tenant, config.tenants)
                )
            )
            continue
        if job.skill is None:
            continue  # a pipeline job: check_pipelines checks it
        if job.skill not in tenant_config.skills:
            state.add(
                source.problem(
                    ("jobs", index, "skill"),
                    f"tenant {job.tenant!r} does not list skill {job.skill!r} "
                    f"(it lists: {', '.join(tenant_config.skills)})",
                )
            )
            continue
        skill = skills.get(job.skill)
        if skill is None:
            continue
        for path, message in schema_errors(skill.input_validator, job.input):
            loc = ("jobs", index, "input", *path)
            state.add(source.problem(loc, f"input does not match skill {job.skill!r}: {message}"))
