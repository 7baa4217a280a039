"""What a plugin factory is given when chimera builds the objects it registered."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PluginContext:
    """Shared resources a plugin factory may use.

    Attributes:
        redis: the ``redis.asyncio`` client of this process, or ``None`` where there is none
            (``chimera validate``).
        keyspace: the :class:`~chimera.lib.keys.Keyspace` in use.
        swarm: the loaded :class:`~chimera.config.swarm.Swarm` (skills, tenants), if any.
        settings: free-form settings from the command line or environment.
    """

    redis: Any = None
    keyspace: Any = None
    swarm: Any = None
    settings: dict[str, Any] = field(default_factory=dict)
