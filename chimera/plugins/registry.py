"""What the plugins register: factories by name, who registered each, what backends can do.

:func:`build_registry` calls each ``register_*`` hook through pluggy (``pm.hook``), one
plugin at a time, so it knows which plugin offered which name: ``chimera plugins`` lists
that, a clash warning names both plugins, and precedence does not depend on the order in
which pluggy happens to call implementations.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, cast

import pluggy

from chimera.plugins.context import PluginContext
from chimera.plugins.contracts import build_checked
from chimera.plugins.manager import (
    DEFAULT_PLUGINS,
    PluginWarning,
    get_plugin_manager,
    plugin_version,
    raise_plugin_errors,
)
from chimera.plugins.registrars import BackendFactory, PolicyFactory, SinkFactory
from chimera.ports.judge import AuditSink, JudgePolicy
from chimera.ports.llm import LLMBackend

Kind = Literal["backends", "policies", "sinks"]

#: The hook that registers each kind of object.
HOOKS: dict[Kind, str] = {
    "backends": "register_backends",
    "policies": "register_policies",
    "sinks": "register_audit_sinks",
}
#: How messages name one object of each kind.
SINGULAR: dict[Kind, str] = {"backends": "backend", "policies": "policy", "sinks": "audit sink"}


@dataclass(frozen=True)
class PluginInfo:
    """One loaded plugin: its name, distribution version and what it registers."""

    name: str
    version: str | None
    builtin: bool
    registers: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Registry:
    """Factories of every backend, policy and sink, by name, with who registered them.

    Attributes:
        backends: backend factories by name (the registration in use for each name).
        policies: policy factories by name.
        sinks: audit sink factories by name.
        plugins: every loaded plugin, built-ins first, and what each registered.
        owners: the plugin whose registration is in use, by ``(kind, name)``.
        tool_backends: names of the backends registered with ``tools=True``.
    """

    backends: dict[str, BackendFactory] = field(default_factory=dict)
    policies: dict[str, PolicyFactory] = field(default_factory=dict)
    sinks: dict[str, SinkFactory] = field(default_factory=dict)
    plugins: list[PluginInfo] = field(default_factory=list)
    owners: dict[tuple[Kind, str], str] = field(default_factory=dict)
    tool_backends: set[str] = field(default_factory=set)

    def owner(self, kind: Kind, name: str) -> str:
        """The plugin whose registration of ``name`` is in use (``?`` if none)."""
        return self.owners.get((kind, name), "?")

    def build_backend(self, name: str, context: PluginContext) -> LLMBackend:
        """Build the backend ``name`` and check it against the LLM backend port.

        Raises:
            PluginError: the factory failed or its object does not fit the port.
            ConfigError: the factory reported a problem in the user's configuration.
        """
        backend = build_checked(
            "backend", name, self.owner("backends", name), self.backends[name], context, LLMBackend
        )
        return cast(LLMBackend, backend)  # checked against the port just now

    def build_policy(self, name: str, context: PluginContext) -> JudgePolicy:
        """Build the policy ``name`` and check it against the Judge policy port."""
        policy = build_checked(
            "policy", name, self.owner("policies", name), self.policies[name], context, JudgePolicy
        )
        return cast(JudgePolicy, policy)

    def build_sink(self, name: str, context: PluginContext) -> AuditSink:
        """Build the audit sink ``name`` and check it against the audit sink port."""
        sink = build_checked(
            "audit sink", name, self.owner("sinks", name), self.sinks[name], context, AuditSink
        )
        return cast(AuditSink, sink)


@dataclass(frozen=True)
class _Offer:
    """One ``register(...)`` call of one plugin."""

    name: str
    factory: Callable[[PluginContext], object]
    tools: bool = False


class _Collector:
    """The registrar handed to one plugin's hook: checks each call and keeps it."""

    def __init__(self, kind: Kind) -> None:
        self.kind = kind
        self.offers: list[_Offer] = []

    def _offer(self, name: str, factory: Callable[[PluginContext], object], tools: bool) -> None:
        what = SINGULAR[self.kind]
        if not isinstance(name, str) or not name.strip():
            raise TypeError(f"a {what} name must be a non-empty string, got {name!r}")
        if not callable(factory):
            raise TypeError(f"the factory of {what} {name!r} is not callable: {factory!r}")
        self.offers.append(_Offer(name, factory, tools))


class _BackendCollector(_Collector):
    def __call__(self, name: str, factory: BackendFactory, *, tools: bool = False) -> None:
        self._offer(name, factory, tools=tools is True)


class _PolicyCollector(_Collector):
    def __call__(self, name: str, factory: PolicyFactory) -> None:
        self._offer(name, factory, tools=False)


class _SinkCollector(_Collector):
    def __call__(self, name: str, factory: SinkFactory) -> None:
        self._offer(name, factory, tools=False)


_COLLECTORS: dict[Kind, type[_Collector]] = {
    "backends": _BackendCollector,
    "policies": _PolicyCollector,
    "sinks": _SinkCollector,
}


def hook_of(pm: pluggy.PluginManager, plugin: object, hook_name: str) -> pluggy.HookCaller:
    """``pm.hook.<hook_name>``, restricted to the implementations of one plugin."""
    others = [other for other in pm.get_plugins() if other is not plugin]
    return pm.subset_hook_caller(hook_name, remove_plugins=others)


def in_precedence_order(pm: pluggy.PluginManager) -> list[object]:
    """Built-ins first, then by plugin name: the last registration of a name wins.

    pluggy keeps plugins in registration order and calls them in reverse; which plugin
    wins a clash must not depend on that, nor change from run to run.
    """
    return sorted(
        pm.get_plugins(),
        key=lambda p: (pm.get_name(p) not in DEFAULT_PLUGINS, pm.get_name(p) or ""),
    )


def build_registry(pm: pluggy.PluginManager | None = None) -> Registry:
    """Call every ``register_*`` hook of every plugin and collect the factories by name.

    A name registered by two plugins is reported with a :class:`PluginWarning` naming
    both; a third-party plugin's registration wins over a built-in's. A plugin whose hook
    raises (or registers something malformed) is left out of that hook with a warning, as
    a plugin that fails to import is; ``CHIMERA_RAISE_PLUGIN_ERRORS=1`` raises instead.
    """
    pm = pm or get_plugin_manager()
    registry = Registry()
    for plugin in in_precedence_order(pm):
        plugin_name = pm.get_name(plugin) or repr(plugin)
        registers: dict[str, list[str]] = {}
        for kind in HOOKS:
            offers = _ask(pm, plugin, plugin_name, kind)
            for offer in offers:
                _keep(registry, kind, plugin_name, offer)
            if offers:
                registers[kind] = [offer.name for offer in offers]
        registry.plugins.append(
            PluginInfo(
                name=plugin_name,
                version=plugin_version(pm, plugin),
                builtin=plugin_name in DEFAULT_PLUGINS,
                registers=registers,
            )
        )
    return registry


def _ask(pm: pluggy.PluginManager, plugin: object, plugin_name: str, kind: Kind) -> list[_Offer]:
    hook = hook_of(pm, plugin, HOOKS[kind])
    if not hook.get_hookimpls():
        return []
    collector = _COLLECTORS[kind](kind)
    try:
        hook(register=collector)
    except Exception as exc:
        if raise_plugin_errors():
            raise
        warnings.warn(
            f"chimera plugin {plugin_name!r} failed in {HOOKS[kind]}: "
            f"{type(exc).__name__}: {exc}; none of its {kind} are used",
            PluginWarning,
            stacklevel=3,
        )
        return []
    return collector.offers


def _keep(registry: Registry, kind: Kind, plugin_name: str, offer: _Offer) -> None:
    previous = registry.owners.get((kind, offer.name))
    if previous is not None and previous != plugin_name:
        warnings.warn(
            f"{SINGULAR[kind]} {offer.name!r} is registered by both {previous!r} and "
            f"{plugin_name!r}; using {plugin_name!r}",
            PluginWarning,
            stacklevel=4,
        )
    registry.owners[(kind, offer.name)] = plugin_name
    factories: dict[str, Callable[[PluginContext], object]] = getattr(registry, kind)
    factories[offer.name] = offer.factory
    if kind == "backends":
        if offer.tools:
            registry.tool_backends.add(offer.name)
        else:
            registry.tool_backends.discard(offer.name)
