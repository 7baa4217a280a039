"""Plugins check the configuration they will be given, when a swarm loads.

A skill's ``model`` and ``options`` mean something only to its backend, and
``judge.options`` only to its policy; chimera cannot check them itself. Without this, a
typo there validates cleanly and every task then fails at run time. So, for each skill
and each place ``judge.options`` are written, chimera asks the plugin whose registration
of that backend or policy is in use (``check_skill``, ``check_judge_options``) and turns
what it reports into ``file:line:col`` problems.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pluggy

from chimera.config.errors import Problem
from chimera.config.swarm import Skill, Swarm, judge_levels
from chimera.config.yaml_source import KEY, Loc, SourceMap
from chimera.models.config import JudgeSettings, SwarmConfig
from chimera.plugins.registrars import ConfigIssue
from chimera.plugins.registry import SINGULAR, Kind, Registry, hook_of


def plugin_problems(swarm: Swarm, registry: Registry, pm: pluggy.PluginManager) -> list[Problem]:
    """Every problem the plugins find in ``swarm``'s skills and ``judge.options``.

    A plugin whose check raises is reported as a problem too (at the backend or policy
    it was checking), never dropped.
    """
    problems: list[Problem] = []
    for skill in swarm.skills.values():
        problems += _skill_problems(skill, registry, pm)
    problems += _judge_problems(swarm, registry, pm)
    return problems


def _skill_problems(skill: Skill, registry: Registry, pm: pluggy.PluginManager) -> list[Problem]:
    backend = skill.config.backend
    if backend not in registry.backends:
        return []  # an unknown backend is the loader's problem to report
    return _ask_owner(
        registry,
        pm,
        _Question("backends", backend, {"backend": backend, "skill": skill.config}),
        skill.source or SourceMap(skill.path),  # built in code: no positions, still reported
        root=(),
        anchor=("backend",),
    )


def _judge_problems(swarm: Swarm, registry: Registry, pm: pluggy.PluginManager) -> list[Problem]:
    source = swarm.source or SourceMap(swarm.path)
    problems: list[Problem] = []
    asked: set[tuple[str, Loc]] = set()
    for tenant, tenant_config in swarm.config.tenants.items():
        for skill in tenant_config.skills:
            settings = swarm.judge_for(tenant, skill)
            where = _options_loc(swarm.config, tenant, skill)
            if settings.policy not in registry.policies or (settings.policy, where) in asked:
                continue
            asked.add((settings.policy, where))
            question = _Question(
                "policies",
                settings.policy,
                {"policy": settings.policy, "options": settings.options},
            )
            problems += _ask_owner(registry, pm, question, source, root=where, anchor=where)
    return problems


@dataclass(frozen=True)
class _Question:
    """One check hook call: about which registered name, with which arguments."""

    kind: Kind
    name: str
    arguments: dict[str, Any]

    @property
    def hook(self) -> str:
        return "check_skill" if self.kind == "backends" else "check_judge_options"


def _ask_owner(
    registry: Registry,
    pm: pluggy.PluginManager,
    question: _Question,
    source: SourceMap,
    root: Loc,
    anchor: Loc,
) -> list[Problem]:
    """Ask the plugin that owns the name; place its issues under ``root`` in ``source``."""
    owner = registry.owner(question.kind, question.name)
    plugin = pm.get_plugin(owner)
    if plugin is None:
        raise ValueError(f"plugin {owner!r} is not loaded by this plugin manager")
    try:
        results: list[Any] = hook_of(pm, plugin, question.hook)(**question.arguments)
        issues = [issue for result in results for issue in (result or [])]
        for issue in issues:
            if not isinstance(issue, ConfigIssue):
                raise TypeError(f"{question.hook} must return ConfigIssue objects, got {issue!r}")
    except Exception as exc:
        what = SINGULAR[question.kind]
        message = (
            f"plugin {owner!r} failed to check this for {what} {question.name!r}: "
            f"{type(exc).__name__}: {exc}"
        )
        return [source.problem(anchor, message)]
    return [_locate(source, root, issue) for issue in issues]


def _locate(source: SourceMap, root: Loc, issue: ConfigIssue) -> Problem:
    loc: Loc = (*root, *issue.path)
    if issue.key and issue.path:
        loc = (*loc, KEY)
    return source.problem(loc, issue.message)


def _options_loc(config: SwarmConfig, tenant: str, skill: str) -> Loc:
    """Where the ``judge.options`` that reach ``tenant``/``skill`` are written.

    The most specific level that sets ``options`` wins as a whole; with none set, the
    place of the level that names the policy (a missing option is reported there).
    """
    levels = judge_levels(config, tenant, skill)
    chosen = _last(levels, "options") or _last(levels, "policy") or levels[0]
    return (*_level_loc(config, tenant, skill, chosen), "options")


def _last(levels: Sequence[JudgeSettings], attribute: str) -> JudgeSettings | None:
    found = [level for level in levels if getattr(level, attribute) is not None]
    return found[-1] if found else None


def _level_loc(config: SwarmConfig, tenant: str, skill: str, level: JudgeSettings) -> Loc:
    tenant_judge = config.tenants[tenant].judge
    if level is config.judge:
        return ("judge",)
    if level is tenant_judge:
        return ("tenants", tenant, "judge")
    if level is config.judge.skills.get(skill):
        return ("judge", "skills", skill)
    return ("tenants", tenant, "judge", "skills", skill)
