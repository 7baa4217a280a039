"""Loading a swarm for a command, with the names installed plugins register."""

from __future__ import annotations

from pathlib import Path

import pluggy

from chimera.config.loader import KnownNames
from chimera.config.swarm import Swarm


def known_names(pm: pluggy.PluginManager | None = None) -> KnownNames:
    """Names of backends, policies and sinks available to this process."""
    from chimera.plugins.loading import known_names_of
    from chimera.plugins.registry import build_registry

    return known_names_of(build_registry(pm))


def load_for_cli(path: Path, pm: pluggy.PluginManager | None = None) -> Swarm:
    """Load ``path`` checking plugin names and what plugins check; raises ``ConfigError``."""
    from chimera.plugins.loading import load_checked

    return load_checked(path, pm)
