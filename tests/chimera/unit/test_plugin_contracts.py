"""A plugin's object is checked against its port when built: one line names what is missing."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from chimera.bootstrap import PluginError
from chimera.plugins import manager
from chimera.plugins.context import PluginContext
from chimera.plugins.contracts import build_checked, port_problems
from chimera.plugins.hookspecs import hookimpl
from chimera.plugins.registrars import BackendRegistrar
from chimera.ports.judge import AuditSink, JudgePolicy
from chimera.ports.llm import LLMBackend
from chimera.ports.tools import Toolbox
from chimera.testing import run_cli
from tests.chimera.helpers import ECHO_SKILL, write_swarm


class GoodBackend:
    name = "good"

    async def complete(self, request: Any) -> Any:
        raise NotImplementedError


class SyncBackend:
    name = "sync"

    def complete(self, request: Any) -> Any:
        raise NotImplementedError


class Nameless:
    async def complete(self, request: Any) -> Any:
        raise NotImplementedError


class BlankName:
    name = " "
    complete = "not a method"


class GoodToolbox:
    async def tools(self, server: str, tenant: str | None = None) -> Sequence[Any]:
        return []

    async def call(self, binding: Any, arguments: Any, tenant: str) -> Any:
        raise NotImplementedError

    async def aclose(self) -> None:
        return None


class HalfToolbox:
    async def tools(self, server: str, tenant: str | None = None) -> Sequence[Any]:
        return []

    def call(self, binding: Any, arguments: Any, tenant: str) -> Any:
        raise NotImplementedError


@pytest.mark.parametrize(
    ("thing", "port", "problems"),
    [
        (GoodBackend(), LLMBackend, []),
        (SyncBackend(), LLMBackend, ["`complete` must be `async def`"]),
        (Nameless(), LLMBackend, ["it has no `name` attribute"]),
        (
            BlankName(),
            LLMBackend,
            ["`name` must be a non-empty string, got ' '", "`complete` is not callable"],
        ),
        (object(), JudgePolicy, ["it has no `name` attribute", "it has no `decide` method"]),
        (GoodBackend(), AuditSink, ["it has no `write` method"]),
        (GoodToolbox(), Toolbox, []),
        (HalfToolbox(), Toolbox, ["`call` must be `async def`", "it has no `aclose` method"]),
    ],
)
def test_what_an_object_lacks_for_its_port(thing: object, port: type, problems: list[str]) -> None:
    assert port_problems(thing, port) == problems


def test_a_misfit_is_one_line_naming_the_object_and_its_plugin() -> None:
    with pytest.raises(PluginError) as caught:
        build_checked(
            "backend", "sync", "my-plugin", lambda c: SyncBackend(), PluginContext(), LLMBackend
        )
    assert str(caught.value) == (
        "backend 'sync' does not fit the LLMBackend port: `complete` must be `async def` "
        "(plugin 'my-plugin')"
    )


def test_a_fitting_object_is_returned_as_built() -> None:
    backend = GoodBackend()
    built = build_checked("backend", "good", "p", lambda c: backend, PluginContext(), LLMBackend)
    assert built is backend


def test_chimera_run_stops_with_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    @hookimpl
    def register_backends(register: BackendRegistrar) -> None:
        register("fake", lambda context: SyncBackend())  # type: ignore[arg-type,return-value]

    module = ModuleType("sync_plugin")
    module.register_backends = register_backends  # type: ignore[attr-defined]

    class EntryPoint:
        name, value, dist = "sync-plugin", "sync_plugin", None

        def load(self) -> object:
            return module

    monkeypatch.setattr(manager, "entry_points", lambda group: [EntryPoint()])
    write_swarm(tmp_path, skills=[ECHO_SKILL], sinks=["log"])
    result = run_cli("run", str(tmp_path / "swarm.yaml"))
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "error: backend 'fake' does not fit the LLMBackend port: `complete` must be "
        "`async def` (plugin 'sync-plugin')"
    ]
