"""The plugin manager: built-ins, isolated entry-point loading, clashes and the registry."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from types import ModuleType, SimpleNamespace
from typing import Any

import pluggy
import pytest

from chimera.plugins import builtins, manager
from chimera.plugins.context import PluginContext
from chimera.plugins.hookspecs import hookimpl
from chimera.plugins.manager import (
    DEFAULT_PLUGINS,
    ENTRY_POINT_GROUP,
    PluginWarning,
    get_plugin_manager,
)
from chimera.plugins.registrars import BackendRegistrar, SinkRegistrar
from chimera.plugins.registry import PluginInfo, build_registry

BUILTIN = "chimera.plugins.builtins"


@dataclass
class FakeEntryPoint:
    """Looks like ``importlib.metadata.EntryPoint`` as far as the manager cares."""

    name: str
    value: str
    plugin: object = None
    error: Exception | None = None
    dist: Any = None

    def load(self) -> object:
        if self.error is not None:
            raise self.error
        return self.plugin


def install(monkeypatch: pytest.MonkeyPatch, *eps: FakeEntryPoint) -> list[str]:
    """Make ``entry_points(group="chimera")`` return ``eps``; returns the groups asked for."""
    asked: list[str] = []

    def fake_entry_points(*, group: str) -> list[FakeEntryPoint]:
        asked.append(group)
        return list(eps) if group == ENTRY_POINT_GROUP else []

    monkeypatch.setattr(manager, "entry_points", fake_entry_points)
    return asked


def factory(label: str) -> Callable[[Any], str]:
    def make(context: Any) -> str:
        return label

    return make


def module(name: str, **hooks: Callable[..., None]) -> ModuleType:
    """A plugin module, as an entry point would load it (pluggy needs hashable plugins)."""
    plugin = ModuleType(name)
    for hook_name, function in hooks.items():
        setattr(plugin, hook_name, function)
    return plugin


def backend_plugin(*names: str, sinks: tuple[str, ...] = ()) -> ModuleType:
    """A plugin registering backends (and optionally sinks) whose factories return labels."""

    @hookimpl
    def register_backends(register: BackendRegistrar) -> None:
        for name in names:
            register(name, factory(f"backend:{name}"))

    plugin = module("backend_plugin", register_backends=register_backends)
    if sinks:

        @hookimpl
        def register_audit_sinks(register: SinkRegistrar) -> None:
            for name in sinks:
                register(name, factory(f"sink:{name}"))

        setattr(plugin, "register_audit_sinks", register_audit_sinks)  # noqa: B010
    return plugin


def misspelt_plugin() -> ModuleType:
    @hookimpl
    def register_backend(register: BackendRegistrar) -> None:  # no such hook: register_backends
        register("typo", factory("typo"))

    return module("misspelt", register_backend=register_backend)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHIMERA_PLUGINS", raising=False)
    monkeypatch.delenv("CHIMERA_RAISE_PLUGIN_ERRORS", raising=False)


def plugin_warnings(record: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, PluginWarning)]


# --- the manager -----------------------------------------------------------------------


def test_manager_registers_builtins_without_touching_entry_points(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked = install(monkeypatch, FakeEntryPoint("never", "x:y", plugin=backend_plugin("z")))
    pm = get_plugin_manager(load_entry_points=False)
    assert asked == []
    assert [pm.get_name(p) for p in pm.get_plugins()] == [BUILTIN]
    assert pm.get_plugin(BUILTIN) is builtins
    assert pm.project_name == ENTRY_POINT_GROUP


def test_each_call_builds_a_fresh_manager(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch)
    first, second = get_plugin_manager(), get_plugin_manager()
    assert first is not second
    first.register(backend_plugin("only-in-first"), name="extra")
    assert second.get_plugin("extra") is None


def test_entry_points_are_loaded_from_the_chimera_group(monkeypatch: pytest.MonkeyPatch) -> None:
    plugin = backend_plugin("echo")
    asked = install(monkeypatch, FakeEntryPoint("echo", "chimera_echo:plugin", plugin=plugin))
    pm = get_plugin_manager()
    assert asked == [ENTRY_POINT_GROUP]
    assert pm.get_plugin("echo") is plugin
    assert pm.get_name(plugin) == "echo"


def test_builtin_registry_collects_every_name(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch)
    registry = build_registry()
    assert sorted(registry.backends) == ["mock"]
    assert sorted(registry.policies) == ["threshold"]
    assert sorted(registry.sinks) == ["log", "redis"]
    assert registry.plugins == [
        PluginInfo(
            name=BUILTIN,
            version=version("chimera-swarm"),
            builtin=True,
            registers={"backends": ["mock"], "policies": ["threshold"], "sinks": ["log", "redis"]},
        )
    ]


def test_registry_records_what_each_plugin_registers(monkeypatch: pytest.MonkeyPatch) -> None:
    plugin = backend_plugin("alpha", "beta", sinks=("webhook",))
    install(monkeypatch, FakeEntryPoint("multi", "multi:plugin", plugin=plugin))
    registry = build_registry()
    info = {p.name: p for p in registry.plugins}
    assert info["multi"].registers == {"backends": ["alpha", "beta"], "sinks": ["webhook"]}
    assert info["multi"].builtin is False
    assert info[BUILTIN].builtin is True
    assert sorted(registry.backends) == ["alpha", "beta", "mock"]
    assert sorted(registry.sinks) == ["log", "redis", "webhook"]
    assert registry.backends["beta"](PluginContext()) == "backend:beta"
    assert registry.sinks["webhook"](PluginContext()) == "sink:webhook"


def test_plugin_version_comes_from_its_distribution(monkeypatch: pytest.MonkeyPatch) -> None:
    dist = SimpleNamespace(version="1.2.3", metadata={"name": "chimera-swarm-echo"})
    install(
        monkeypatch,
        FakeEntryPoint("echo", "chimera_echo:plugin", plugin=backend_plugin("echo"), dist=dist),
        FakeEntryPoint("local", "local:plugin", plugin=backend_plugin("local")),
    )
    versions = {p.name: p.version for p in build_registry().plugins}
    assert versions == {BUILTIN: version("chimera-swarm"), "echo": "1.2.3", "local": None}


def test_a_plugin_that_registers_nothing_is_listed_with_no_registrations(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[str, str, str]] = []

    @hookimpl
    def chimera_after_commit(task_id: str, tenant: str, outcome: str) -> None:
        seen.append((task_id, tenant, outcome))

    plugin = module("observer", chimera_after_commit=chimera_after_commit)
    install(monkeypatch, FakeEntryPoint("observer", "observer:plugin", plugin=plugin))
    pm = get_plugin_manager()
    registry = build_registry(pm)
    assert {p.name: p.registers for p in registry.plugins}["observer"] == {}
    pm.hook.chimera_after_commit(task_id="t1", tenant="acme", outcome="committed")
    assert seen == [("t1", "acme", "committed")]


# --- isolation -------------------------------------------------------------------------


def test_plugin_failing_on_import_warns_and_the_rest_still_loads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    good = backend_plugin("good")
    install(
        monkeypatch,
        FakeEntryPoint("broken", "broken_pkg:plugin", error=ImportError("No module named 'x'")),
        FakeEntryPoint("good", "good_pkg:plugin", plugin=good),
    )
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        pm = get_plugin_manager()
        registry = build_registry(pm)
    messages = plugin_warnings(record)
    assert len(messages) == 1
    assert "'broken'" in messages[0]
    assert "broken_pkg:plugin" in messages[0]
    assert "ImportError" in messages[0]
    assert "No module named 'x'" in messages[0]
    assert pm.get_plugin("broken") is None
    assert pm.get_plugin("good") is good
    assert sorted(registry.backends) == ["good", "mock"]


@pytest.mark.parametrize("value", ["1", "true", "yes"])
def test_raise_plugin_errors_makes_a_broken_plugin_fatal(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("CHIMERA_RAISE_PLUGIN_ERRORS", value)
    install(monkeypatch, FakeEntryPoint("broken", "broken:plugin", error=ImportError("boom")))
    with pytest.raises(ImportError, match="boom"):
        get_plugin_manager()


@pytest.mark.parametrize("value", ["", "0", "false"])
def test_raise_plugin_errors_off_values_only_warn(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("CHIMERA_RAISE_PLUGIN_ERRORS", value)
    install(monkeypatch, FakeEntryPoint("broken", "broken:plugin", error=RuntimeError("boom")))
    with pytest.warns(PluginWarning, match="'broken'.*RuntimeError: boom"):
        pm = get_plugin_manager()
    assert [pm.get_name(p) for p in pm.get_plugins()] == [BUILTIN]


def test_misspelt_hook_is_rejected_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    install(
        monkeypatch,
        FakeEntryPoint("typo", "typo_pkg:plugin", plugin=misspelt_plugin()),
        FakeEntryPoint("fine", "fine_pkg:plugin", plugin=backend_plugin("fine")),
    )
    with pytest.warns(PluginWarning) as record:
        pm = get_plugin_manager()
    messages = [str(w.message) for w in record]
    assert len(messages) == 1
    assert "'typo'" in messages[0]
    assert "register_backend" in messages[0]
    assert "PluginValidationError" in messages[0]
    assert pm.get_plugin("typo") is None
    pm.check_pending()  # nothing unknown is left behind
    assert sorted(build_registry(pm).backends) == ["fine", "mock"]


def test_misspelt_hook_raises_when_errors_are_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHIMERA_RAISE_PLUGIN_ERRORS", "1")
    install(monkeypatch, FakeEntryPoint("typo", "typo_pkg:plugin", plugin=misspelt_plugin()))
    with pytest.raises(pluggy.PluginValidationError, match="register_backend"):
        get_plugin_manager()


def test_chimera_plugins_limits_which_entry_points_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHIMERA_PLUGINS", " one , three,")
    install(
        monkeypatch,
        FakeEntryPoint("one", "one:plugin", plugin=backend_plugin("b1")),
        FakeEntryPoint("two", "two:plugin", error=ImportError("must not be imported")),
        FakeEntryPoint("three", "three:plugin", plugin=backend_plugin("b3")),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", PluginWarning)
        pm = get_plugin_manager()
    names = {pm.get_name(p) for p in pm.get_plugins()}
    assert names == {BUILTIN, "one", "three"}


def test_empty_chimera_plugins_loads_no_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHIMERA_PLUGINS", "")
    install(monkeypatch, FakeEntryPoint("one", "one:plugin", plugin=backend_plugin("b1")))
    pm = get_plugin_manager()
    assert [pm.get_name(p) for p in pm.get_plugins()] == [BUILTIN]
    assert sorted(build_registry(pm).backends) == ["mock"]


# --- clashes ---------------------------------------------------------------------------


def test_plugin_overriding_a_builtin_name_warns_and_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, FakeEntryPoint("better-mock", "bm:plugin", plugin=backend_plugin("mock")))
    with pytest.warns(PluginWarning) as record:
        registry = build_registry()
    messages = [str(w.message) for w in record]
    assert messages == [
        f"backend 'mock' is registered by both {BUILTIN!r} and 'better-mock'; using 'better-mock'"
    ]
    assert registry.backends["mock"](PluginContext()) == "backend:mock"


def test_builtins_are_registered_first_whatever_pluggy_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    install(monkeypatch)
    pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
    from chimera.plugins import hookspecs

    pm.add_hookspecs(hookspecs)
    # The overriding plugin is registered before the built-ins here.
    pm.register(backend_plugin("mock"), name="override")
    pm.register(builtins, name=DEFAULT_PLUGINS[0])
    with pytest.warns(PluginWarning, match="using 'override'"):
        registry = build_registry(pm)
    assert registry.backends["mock"](PluginContext()) == "backend:mock"
    assert [p.name for p in registry.plugins] == [BUILTIN, "override"]


def test_one_plugin_registering_a_name_twice_does_not_warn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    install(monkeypatch, FakeEntryPoint("dup", "dup:plugin", plugin=backend_plugin("x", "x")))
    with warnings.catch_warnings():
        warnings.simplefilter("error", PluginWarning)
        registry = build_registry()
    assert {p.name: p.registers for p in registry.plugins}["dup"] == {"backends": ["x", "x"]}


# --- the built-in factories ------------------------------------------------------------


def test_builtin_factories_build_their_objects(monkeypatch: pytest.MonkeyPatch) -> None:
    from chimera.services.audit import LogAuditSink
    from chimera.services.judge_policy import ThresholdPolicy
    from chimera.services.mock_backend import MockBackend

    install(monkeypatch)
    registry = build_registry()
    context = PluginContext()
    backend = registry.backends["mock"](context)
    assert isinstance(backend, MockBackend)
    assert backend.settings == {}
    assert isinstance(registry.policies["threshold"](context), ThresholdPolicy)
    assert isinstance(registry.sinks["log"](context), LogAuditSink)


def test_redis_sink_factory_needs_a_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    import fakeredis

    from chimera.lib.keys import Keyspace
    from chimera.lib.redis_audit import RedisAuditSink

    install(monkeypatch)
    make_sink = build_registry().sinks["redis"]
    with pytest.raises(RuntimeError, match="needs a Redis connection"):
        make_sink(PluginContext())
    keyspace = Keyspace("p")
    sink = make_sink(PluginContext(redis=fakeredis.FakeAsyncRedis(), keyspace=keyspace))
    assert isinstance(sink, RedisAuditSink)
    assert sink.keys is keyspace


def test_the_registry_is_built_in_its_own_module() -> None:
    assert build_registry.__module__ == "chimera.plugins.registry"
    assert not hasattr(manager, "build_registry")


def test_an_entry_point_name_published_twice_loads_once_and_warns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = FakeEntryPoint("echo", "first_pkg:plugin", backend_plugin("one"))
    second = FakeEntryPoint("echo", "second_pkg:plugin", backend_plugin("two"))
    install(monkeypatch, first, second)
    with pytest.warns(PluginWarning, match="'echo' is published twice; second_pkg:plugin"):
        registry = build_registry()
    assert "one" in registry.backends
    assert "two" not in registry.backends


def test_hookimpls_under_another_function_name_are_honoured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    @hookimpl(specname="register_backends")
    def add_my_backends(register: BackendRegistrar) -> None:
        register("renamed", factory("backend:renamed"))

    install(
        monkeypatch,
        FakeEntryPoint(
            "renamed", "pkg:plugin", module("renamed_pkg", add_my_backends=add_my_backends)
        ),
    )
    registry = build_registry()
    assert registry.backends["renamed"](None) == "backend:renamed"
    [info] = [p for p in registry.plugins if p.name == "renamed"]
    assert info.registers == {"backends": ["renamed"]}
