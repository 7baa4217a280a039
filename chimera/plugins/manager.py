"""The plugin manager factory: built-ins plus installed entry points, each loaded alone.

Nothing is created at import: every command builds its own manager when it needs one, so
``chimera --help`` never imports a third-party plugin, and tests get a fresh manager each.
What the plugins register is collected by :func:`chimera.plugins.registry.build_registry`.
"""

from __future__ import annotations

import importlib
import os
import warnings
from importlib.metadata import EntryPoint, PackageNotFoundError, entry_points, version

import pluggy

from chimera.plugins import hookspecs

#: Entry-point group third-party packages publish their plugins under.
ENTRY_POINT_GROUP = "chimera"
#: Built-in plugins, registered through the same hooks as everyone else's.
DEFAULT_PLUGINS = ("chimera.plugins.builtins",)


class PluginWarning(UserWarning):
    """A plugin could not be loaded or clashes with another; chimera carries on without it."""


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


def raise_plugin_errors() -> bool:
    """Whether ``CHIMERA_RAISE_PLUGIN_ERRORS`` makes a broken plugin fatal."""
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
        if raise_plugin_errors():
            raise
        warnings.warn(
            f"chimera plugin {entry_point.name!r} ({entry_point.value}) was not loaded: "
            f"{type(exc).__name__}: {exc}",
            PluginWarning,
            stacklevel=3,
        )


def plugin_version(pm: pluggy.PluginManager, plugin: object) -> str | None:
    """The version of the distribution that published ``plugin`` (chimera's for built-ins)."""
    name = pm.get_name(plugin) or ""
    if name in DEFAULT_PLUGINS:
        return _chimera_version()
    for dist_plugin, dist in pm.list_plugin_distinfo():
        if dist_plugin is plugin:
            return str(dist.version)
    versions: dict[str, str] = getattr(pm, "versions", {})
    return versions.get(name)


def _chimera_version() -> str | None:
    try:
        return version("chimera-swarm")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return None
