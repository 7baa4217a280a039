"""Plugins check skill options and judge.options when a swarm loads; problems get file:line."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pluggy
import pytest

from chimera.config.errors import ConfigError
from chimera.models.config import SkillConfig
from chimera.plugins.hookspecs import hookimpl
from chimera.plugins.loading import load_checked
from chimera.plugins.manager import get_plugin_manager
from chimera.plugins.registrars import BackendRegistrar, ConfigIssue, PolicyRegistrar
from tests.chimera.helpers import ECHO_SKILL, write_swarm

SKILL = {**ECHO_SKILL, "options": {"temperature": 0, "colour": "blue"}}


class Checker:
    """Registers backend ``fake`` and policy ``strict``, and checks what they are given."""

    def __init__(self) -> None:
        self.skills: list[tuple[str, str]] = []
        self.options: list[tuple[str, dict[str, Any]]] = []

    @hookimpl
    def register_backends(self, register: BackendRegistrar) -> None:
        register("fake", lambda context: None)  # type: ignore[arg-type,return-value]

    @hookimpl
    def register_policies(self, register: PolicyRegistrar) -> None:
        register("strict", lambda context: None)  # type: ignore[arg-type,return-value]

    @hookimpl
    def check_skill(self, backend: str, skill: SkillConfig) -> list[ConfigIssue]:
        self.skills.append((backend, skill.name))
        return [
            ConfigIssue(("options", name), f"unknown option {name!r}", key=True)
            for name in skill.options
            if name != "temperature"
        ]

    @hookimpl
    def check_judge_options(
        self, policy: str, options: Mapping[str, Any]
    ) -> list[ConfigIssue] | None:
        self.options.append((policy, dict(options)))
        if "limit" not in options:
            return [ConfigIssue((), "policy 'strict' needs options.limit")]
        if not isinstance(options["limit"], int):
            return [ConfigIssue(("limit",), "limit must be a whole number")]
        return None


def manager(*plugins: object) -> pluggy.PluginManager:
    pm = get_plugin_manager(load_entry_points=False)
    for index, plugin in enumerate(plugins):
        pm.register(plugin, name=f"plugin-{index}")
    return pm


def problems(path: Path, pm: pluggy.PluginManager) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_checked(path, pm)
    return [f"{p.file.name}:{p.line}:{p.col}: {p.message}" for p in caught.value.problems]


def skill_line(tmp_path: Path, text: str) -> int:
    lines = (tmp_path / "skills" / "echo.yaml").read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def test_skill_issues_are_located_in_the_skill_file(tmp_path: Path) -> None:
    checker = Checker()
    write_swarm(tmp_path, skills=[SKILL], sinks=["log"])
    found = problems(tmp_path / "swarm.yaml", manager(checker))
    line = skill_line(tmp_path, "colour:")
    assert found == [f"echo.yaml:{line}:3: unknown option 'colour'"]
    assert checker.skills == [("fake", "echo")]


def test_judge_options_are_checked_once_per_place_and_located_there(tmp_path: Path) -> None:
    checker = Checker()
    judge = {"policy": "strict", "options": {"limit": "ten"}}
    tenants = {
        "acme": {"skills": ["echo"]},
        "globex": {"skills": ["echo"], "judge": {"options": {"limit": 3}}},
        "initech": {"skills": ["echo"]},
    }
    write_swarm(tmp_path, skills=[ECHO_SKILL], sinks=["log"], judge=judge, tenants=tenants)
    found = problems(tmp_path / "swarm.yaml", manager(checker))
    text = (tmp_path / "swarm.yaml").read_text().splitlines()
    line = next(i for i, row in enumerate(text, 1) if "limit: ten" in row)
    assert found == [f"swarm.yaml:{line}:12: limit must be a whole number"]
    # acme and initech share the swarm-level options: asked once; globex has its own.
    assert checker.options == [("strict", {"limit": "ten"}), ("strict", {"limit": 3})]


def test_a_policy_given_no_options_is_asked_with_none_and_pointed_at_its_level(
    tmp_path: Path,
) -> None:
    checker = Checker()
    tenants = {"acme": {"skills": ["echo"], "judge": {"policy": "strict"}}}
    write_swarm(tmp_path, skills=[ECHO_SKILL], sinks=["log"], tenants=tenants)
    found = problems(tmp_path / "swarm.yaml", manager(checker))
    text = (tmp_path / "swarm.yaml").read_text().splitlines()
    line = next(i for i, row in enumerate(text, 1) if "policy: strict" in row)
    assert found == [f"swarm.yaml:{line}:7: policy 'strict' needs options.limit"]
    assert checker.options == [("strict", {})]


def test_only_the_plugin_whose_registration_is_in_use_is_asked(tmp_path: Path) -> None:
    first, second = Checker(), Checker()
    write_swarm(tmp_path, skills=[SKILL], sinks=["log"])
    with pytest.warns(UserWarning, match="is registered by both 'plugin-0' and 'plugin-1'"):
        problems(tmp_path / "swarm.yaml", manager(first, second))
    assert (first.skills, second.skills) == ([], [("fake", "echo")])


def test_a_check_that_raises_is_a_problem_naming_the_plugin(tmp_path: Path) -> None:
    class Broken(Checker):
        @hookimpl
        def check_skill(self, backend: str, skill: SkillConfig) -> list[ConfigIssue]:
            raise KeyError("model")

    write_swarm(tmp_path, skills=[SKILL], sinks=["log"])
    (found,) = problems(tmp_path / "swarm.yaml", manager(Broken()))
    line = skill_line(tmp_path, "backend:")
    assert found == (
        f"echo.yaml:{line}:10: plugin 'plugin-0' failed to check this for backend 'fake': "
        "KeyError: 'model'"
    )


def test_a_check_returning_something_else_is_a_problem(tmp_path: Path) -> None:
    class Sloppy(Checker):
        @hookimpl
        def check_skill(self, backend: str, skill: SkillConfig) -> Any:
            return ["options.colour is unknown"]

    write_swarm(tmp_path, skills=[SKILL], sinks=["log"])
    (found,) = problems(tmp_path / "swarm.yaml", manager(Sloppy()))
    assert "check_skill must return ConfigIssue objects, got 'options.colour is unknown'" in found


def test_a_clean_swarm_loads(tmp_path: Path) -> None:
    checker = Checker()
    judge = {"policy": "strict", "options": {"limit": 3}}
    write_swarm(tmp_path, skills=[ECHO_SKILL], sinks=["log"], judge=judge)
    swarm = load_checked(tmp_path / "swarm.yaml", manager(checker))
    assert swarm.skill("echo").config.backend == "fake"
    assert swarm.source is not None
    assert swarm.skill("echo").source is not None


def test_options_written_per_skill_are_located_at_that_level(tmp_path: Path) -> None:
    checker = Checker()
    judge = {"policy": "strict", "options": {"limit": 1}, "skills": {"echo": {"options": {}}}}
    tenants = {
        "acme": {"skills": ["echo"]},
        "globex": {"skills": ["echo"], "judge": {"skills": {"echo": {"options": {"x": 1}}}}},
    }
    write_swarm(tmp_path, skills=[ECHO_SKILL], sinks=["log"], judge=judge, tenants=tenants)
    found = problems(tmp_path / "swarm.yaml", manager(checker))
    assert [line.split(": ", 1)[1] for line in found] == [
        "policy 'strict' needs options.limit",
        "policy 'strict' needs options.limit",
    ]
    assert checker.options == [("strict", {}), ("strict", {"x": 1})]
    lines = sorted(int(line.split(":")[1]) for line in found)
    text = (tmp_path / "swarm.yaml").read_text().splitlines()
    # A block mapping starts at its first key: that is where its problems point.
    assert [text[n - 1].strip() for n in lines] == ["options: {}", "x: 1"]


def test_a_swarm_built_in_code_still_gets_its_problems_at_the_file(tmp_path: Path) -> None:
    from dataclasses import replace

    from chimera.plugins.checks import plugin_problems
    from chimera.plugins.registry import build_registry

    checker = Checker()
    pm = manager(checker)
    swarm = write_swarm(tmp_path, skills=[SKILL], sinks=["log"])
    bare = replace(swarm, source=None, skills={"echo": replace(swarm.skill("echo"), source=None)})
    (problem,) = plugin_problems(bare, build_registry(pm), pm)
    assert (problem.file.name, problem.line, problem.col) == ("echo.yaml", 1, 1)
    assert problem.message == "unknown option 'colour'"


def test_a_registry_of_another_plugin_manager_is_a_bug(tmp_path: Path) -> None:
    from chimera.plugins.checks import plugin_problems
    from chimera.plugins.registry import build_registry

    swarm = write_swarm(tmp_path, skills=[SKILL], sinks=["log"])
    registry = build_registry(manager(Checker()))
    with pytest.raises(ValueError, match="plugin 'plugin-0' is not loaded"):
        plugin_problems(swarm, registry, get_plugin_manager(load_entry_points=False))
