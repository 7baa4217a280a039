"""Loading a swarm for a command, with the names installed plugins register."""

from __future__ import annotations

from pathlib import Path

import pluggy

from chimera.config.loader import KnownNames, load_swarm
from chimera.config.swarm import Swarm


def known_names(pm: pluggy.PluginManager | None = None) -> KnownNames:
    """Names of backends, policies and sinks available to this process."""
    from chimera.plugins.manager import build_registry

    registry = build_registry(pm)
    return KnownNames(
        backends=sorted(registry.backends),
        policies=sorted(registry.policies),
        sinks=sorted(registry.sinks),
    )


def load_for_cli(path: Path, pm: pluggy.PluginManager | None = None) -> Swarm:
    """Load ``path`` checking plugin names; raises ``ConfigError`` on problems."""
    return load_swarm(path, known_names(pm))
