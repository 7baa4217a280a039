"""Loading a swarm the way every command does: plugin names checked, then plugin checks."""

from __future__ import annotations

from pathlib import Path

import pluggy

from chimera.config.errors import ConfigError
from chimera.config.loader import KnownNames, load_swarm
from chimera.config.swarm import Swarm
from chimera.plugins.checks import plugin_problems
from chimera.plugins.manager import get_plugin_manager
from chimera.plugins.registry import Registry, build_registry


def known_names_of(registry: Registry) -> KnownNames:
    """The names ``registry`` offers, for the loader to check references against."""
    return KnownNames(
        backends=sorted(registry.backends),
        policies=sorted(registry.policies),
        sinks=sorted(registry.sinks),
        tool_backends=sorted(registry.tool_backends),
    )


def load_checked(path: str | Path, pm: pluggy.PluginManager | None = None) -> Swarm:
    """Load the swarm at ``path`` and let the plugins check what they will be given.

    Args:
        path: the ``swarm.yaml``.
        pm: the plugin manager of this command; a new one with every installed plugin
            by default.

    Raises:
        ConfigError: every problem found, each with ``file:line:col``. Plugin checks run
            once the files themselves load cleanly.
    """
    pm = pm or get_plugin_manager()
    registry = build_registry(pm)
    swarm = load_swarm(path, known_names_of(registry))
    problems = plugin_problems(swarm, registry, pm)
    if problems:
        raise ConfigError(problems)
    return swarm
