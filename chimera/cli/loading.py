"""Loading a swarm for a command, with the names installed plugins register."""

from __future__ import annotations

from pathlib import Path

import pluggy

from chimera.config.errors import ConfigError
from chimera.config.loader import KnownNames
from chimera.config.swarm import Swarm
from chimera.lib.secret_values import remember_file_references


def known_names(pm: pluggy.PluginManager | None = None) -> KnownNames:
    """Names of backends, policies and sinks available to this process."""
    from chimera.plugins.loading import known_names_of
    from chimera.plugins.registry import build_registry

    return known_names_of(build_registry(pm))


def load_for_cli(path: Path, pm: pluggy.PluginManager | None = None) -> Swarm:
    """Load ``path`` checking plugin names and what plugins check; raises ``ConfigError``.

    The values of the ``${VAR}``s the files refer to are remembered as secrets first (see
    :mod:`chimera.lib.secret_values`): nothing the command writes repeats one, not even a
    message about the file that quotes it.
    """
    from chimera.plugins.loading import load_checked

    remember_file_references(path)
    try:
        swarm = load_checked(path, pm)
    except ConfigError as exc:
        for file in {problem.file for problem in exc.problems}:
            remember_file_references(file)
        raise
    for skill in swarm.skills.values():
        remember_file_references(skill.path)
    return swarm
