"""The registry is built through pluggy's own hook calls, one plugin at a time."""

from __future__ import annotations

import warnings
from types import ModuleType
from typing import Any

import pluggy
import pytest

from chimera.plugins.context import PluginContext
from chimera.plugins.hookspecs import hookimpl
from chimera.plugins.manager import PluginWarning, get_plugin_manager
from chimera.plugins.registrars import BackendRegistrar, PolicyRegistrar
from chimera.plugins.registry import build_registry


def manager(**plugins: object) -> pluggy.PluginManager:
    pm = get_plugin_manager(load_entry_points=False)
    for name, plugin in plugins.items():
        pm.register(plugin, name=name)
    return pm


def plugin(name: str, **hooks: Any) -> ModuleType:
    module = ModuleType(name)
    for hook_name, function in hooks.items():
        setattr(module, hook_name, function)
    return module


def backends(*offers: tuple[str, bool]) -> ModuleType:
    @hookimpl
    def register_backends(register: BackendRegistrar) -> None:
        for name, tools in offers:
            register(name, lambda context, name=name: f"backend:{name}", tools=tools)

    return plugin("backends", register_backends=register_backends)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHIMERA_RAISE_PLUGIN_ERRORS", raising=False)


def test_hooks_are_called_through_pluggy(monkeypatch: pytest.MonkeyPatch) -> None:
    pm = manager(extra=backends(("alpha", False)))
    called: list[str] = []
    pm.add_hookcall_monitoring(
        before=lambda hook_name, impls, kwargs: called.append(hook_name),
        after=lambda outcome, hook_name, impls, kwargs: None,
    )
    build_registry(pm)
    assert called.count("register_backends") == 2  # once for the built-ins, once for `extra`
    assert called.count("register_policies") == 1  # only the built-ins implement it
    assert called.count("register_audit_sinks") == 1


def test_a_hookimpl_taking_fewer_arguments_than_the_spec_is_honoured() -> None:
    seen: list[str] = []

    @hookimpl
    def register_backends() -> None:  # pluggy lets an implementation ignore arguments
        seen.append("called")

    registry = build_registry(manager(quiet=plugin("quiet", register_backends=register_backends)))
    assert seen == ["called"]
    assert {p.name: p.registers for p in registry.plugins}["quiet"] == {}


def test_tool_capability_is_recorded_per_backend() -> None:
    registry = build_registry(manager(extra=backends(("talker", True), ("plain", False))))
    assert registry.tool_backends == {"talker", "mock"}  # the mock plays scripted tool calls
    assert registry.owner("backends", "talker") == "extra"
    assert registry.owner("backends", "mock") == "chimera.plugins.builtins"
    assert registry.owner("backends", "nowhere") == "?"


def test_the_winning_registration_decides_the_capability() -> None:
    first = backends(("shared", True))
    second = backends(("shared", False), ("mock", False))
    with pytest.warns(PluginWarning, match="is registered by both"):
        registry = build_registry(manager(b=second, a=first))
    assert registry.owner("backends", "shared") == "b"
    assert registry.owner("backends", "mock") == "b"
    assert registry.tool_backends == set()


def test_clash_warnings_name_the_kind_properly() -> None:
    @hookimpl
    def register_policies(register: PolicyRegistrar) -> None:
        register("threshold", lambda context: "mine")

    with pytest.warns(PluginWarning, match="^policy 'threshold' is registered by both"):
        build_registry(manager(mine=plugin("mine", register_policies=register_policies)))


def test_a_plugin_whose_hook_raises_is_left_out_with_a_warning() -> None:
    @hookimpl
    def register_backends(register: BackendRegistrar) -> None:
        register("half", lambda context: "half")
        raise RuntimeError("config file missing")

    broken = plugin("broken", register_backends=register_backends)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        registry = build_registry(manager(broken=broken, fine=backends(("fine", False))))
    messages = [str(w.message) for w in record if issubclass(w.category, PluginWarning)]
    assert messages == [
        "chimera plugin 'broken' failed in register_backends: RuntimeError: config file "
        "missing; none of its backends are used"
    ]
    assert sorted(registry.backends) == ["fine", "mock"]  # nothing half-registered
    assert {p.name: p.registers for p in registry.plugins}["broken"] == {}


def test_a_raising_hook_is_fatal_when_plugin_errors_are(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHIMERA_RAISE_PLUGIN_ERRORS", "1")

    @hookimpl
    def register_backends(register: BackendRegistrar) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        build_registry(manager(broken=plugin("broken", register_backends=register_backends)))


@pytest.mark.parametrize(
    ("name", "factory", "words"),
    [
        ("", lambda context: None, "a backend name must be a non-empty string, got ''"),
        (7, lambda context: None, "a backend name must be a non-empty string, got 7"),
        ("x", "not callable", "the factory of backend 'x' is not callable"),
    ],
)
def test_malformed_registrations_are_refused(name: Any, factory: Any, words: str) -> None:
    @hookimpl
    def register_backends(register: Any) -> None:
        register(name, factory)

    with pytest.warns(PluginWarning, match=words):
        registry = build_registry(manager(bad=plugin("bad", register_backends=register_backends)))
    assert sorted(registry.backends) == ["mock"]


def test_class_based_plugins_are_told_apart() -> None:
    class Offers:
        def __init__(self, name: str) -> None:
            self.name = name

        @hookimpl
        def register_backends(self, register: BackendRegistrar) -> None:
            register(self.name, lambda context: self.name)

    registry = build_registry(manager(one=Offers("one"), two=Offers("two")))
    assert (registry.owner("backends", "one"), registry.owner("backends", "two")) == ("one", "two")
    assert registry.backends["two"](PluginContext()) == "two"
