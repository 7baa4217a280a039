"""The plugin manager factory and the registry of what plugins provide.

Nothing is created at import: every command builds its own manager when it needs one, so
``chimera --help`` never imports a third-party plugin, and tests get a fresh manager each.
"""

from __future__ import annotations

import importlib
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, PackageNotFoundError, entry_points, version
from typing import Any

import pluggy

from chimera.plugins import hookspecs

#: Entry-point group third-party packages publish their plugins under.
ENTRY_POINT_GROUP = "chimera"
#: Built-in plugins, registered through the same hooks as everyone else's.
DEFAULT_PLUGINS = ("chimera.plugins.builtins",)


class PluginWarning(UserWarning):
    """A plugin could not be loaded or clashes with another; chimera carries on without it."""


@dataclass(frozen=True)
class PluginInfo:
    """One loaded plugin: its name, distribution version and what it registers."""

    name: str
    version: str | None
    builtin: bool
    registers: dict[str, list[str]] = field(default_factory=dict)


class ChimeraPluginManager(pluggy.PluginManager):
    """A pluggy manager that remembers the distribution version of each entry-point plugin.

    pluggy only records distributions in ``load_setuptools_entrypoints``, which chimera does
    not use (it loads each entry point in isolation), so the versions are kept here.
    """

    def __init__(self) -> None:
        super().__init__(ENTRY_POINT_GROUP)
        self.versions: dict[str, str] = {}


def get_plugin_manager(load_entry_points: bool = True) -> pluggy.PluginManager:
    """Build a plugin manager with the built-ins and (optionally) installed plugins.

    Each entry point is loaded in isolation: one that fails to import, or implements a hook
    that does not exist, is skipped with a :class:`PluginWarning` naming it. Set
    ``CHIMERA_RAISE_PLUGIN_ERRORS=1`` to make that fatal, and ``CHIMERA_PLUGINS=a,b`` to
    load only the named entry points (an empty value loads none).
    """
    pm = ChimeraPluginManager()
    pm.add_hookspecs(hookspecs)
    for module_name in DEFAULT_PLUGINS:
        pm.register(importlib.import_module(module_name), name=module_name)
    if load_entry_points:
        for entry_point in _selected_entry_points():
            _load_isolated(pm, entry_point)
    pm.check_pending()
    return pm


def _selected_entry_points() -> list[EntryPoint]:
    found = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)
    only = os.environ.get("CHIMERA_PLUGINS")
    if only is None:
        return found
    wanted = {name.strip() for name in only.split(",") if name.strip()}
    return [ep for ep in found if ep.name in wanted]


def _raise_errors() -> bool:
    return os.environ.get("CHIMERA_RAISE_PLUGIN_ERRORS", "") not in ("", "0", "false")


def _load_isolated(pm: ChimeraPluginManager, entry_point: EntryPoint) -> None:
    if pm.get_plugin(entry_point.name) is not None:
        warnings.warn(
            f"chimera plugin name {entry_point.name!r} is published twice; "
            f"{entry_point.value} was not loaded",
            PluginWarning,
            stacklevel=3,
        )
        return
    try:
        plugin = entry_point.load()
        pm.register(plugin, name=entry_point.name)
        try:
            pm.check_pending()
        except pluggy.PluginValidationError:
            pm.unregister(name=entry_point.name)
            raise
        dist = getattr(entry_point, "dist", None)
        if dist is not None:
            pm.versions[entry_point.name] = str(dist.version)
    except Exception as exc:
        if _raise_errors():
            raise
        warnings.warn(
            f"chimera plugin {entry_point.name!r} ({entry_point.value}) was not loaded: "
            f"{type(exc).__name__}: {exc}",
            PluginWarning,
            stacklevel=3,
        )


def _distribution_version(pm: pluggy.PluginManager, plugin: object) -> str | None:
    for dist_plugin, dist in pm.list_plugin_distinfo():
        if dist_plugin is plugin:
            return str(dist.version)
    versions: dict[str, str] = getattr(pm, "versions", {})
    return versions.get(pm.get_name(plugin) or "")


def _chimera_version() -> str | None:
    try:
        return version("chimera-swarm")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return None


Factory = Callable[[Any], Any]


@dataclass
class Registry:
    """Factories of every backend, policy and sink, by name, with who registered them."""

    backends: dict[str, Factory] = field(default_factory=dict)
    policies: dict[str, Factory] = field(default_factory=dict)
    sinks: dict[str, Factory] = field(default_factory=dict)
    plugins: list[PluginInfo] = field(default_factory=list)


_KINDS = {
    "backends": "register_backends",
    "policies": "register_policies",
    "sinks": "register_audit_sinks",
}


@dataclass
class _Registrar:
    """The ``register(name, factory)`` callback handed to one plugin's hook."""

    registry: Registry
    kind: str
    plugin: str
    owners: dict[tuple[str, str], str]
    names: list[str]

    def __call__(self, name: str, factory: Factory) -> None:
        previous = self.owners.get((self.kind, name))
        if previous is not None and previous != self.plugin:
            warnings.warn(
                f"{self.kind[:-1]} {name!r} is registered by both {previous!r} and "
                f"{self.plugin!r}; using {self.plugin!r}",
                PluginWarning,
                stacklevel=2,
            )
        self.owners[(self.kind, name)] = self.plugin
        getattr(self.registry, self.kind)[name] = factory
        self.names.append(name)


def build_registry(pm: pluggy.PluginManager | None = None) -> Registry:
    """Call every ``register_*`` hook of every plugin and collect the factories by name.

    A name registered twice is reported with a :class:`PluginWarning` naming both plugins;
    a third-party plugin's registration wins over a built-in's.
    """
    pm = pm or get_plugin_manager()
    registry = Registry()
    owners: dict[tuple[str, str], str] = {}
    # Built-ins first so that plugins override them, whatever order pluggy calls in.
    # Built-ins first, then by name: pluggy keeps plugins in a set, and which plugin wins a
    # name clash (the last) must not change from run to run.
    plugins = sorted(
        pm.get_plugins(),
        key=lambda p: (pm.get_name(p) not in DEFAULT_PLUGINS, pm.get_name(p) or ""),
    )
    # Go through pluggy's hook implementations (not plugin attributes) so that hookimpls
    # published under another function name (``specname=``) are honoured too.
    impls = {
        kind: {impl.plugin_name: impl.function for impl in getattr(pm.hook, hook).get_hookimpls()}
        for kind, hook in _KINDS.items()
    }
    for plugin in plugins:
        plugin_name = pm.get_name(plugin) or repr(plugin)
        registers: dict[str, list[str]] = {}
        for kind in _KINDS:
            function = impls[kind].get(plugin_name)
            if function is None:
                continue
            names: list[str] = []
            function(register=_Registrar(registry, kind, plugin_name, owners, names))
            if names:
                registers[kind] = names
        registry.plugins.append(
            PluginInfo(
                name=plugin_name,
                version=_chimera_version()
                if plugin_name in DEFAULT_PLUGINS
                else _distribution_version(pm, plugin),
                builtin=plugin_name in DEFAULT_PLUGINS,
                registers=registers,
            )
        )
    return registry
