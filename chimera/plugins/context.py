"""What a plugin factory is given when chimera builds the objects it registered."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # typing only: the context must not import Redis or the config loader
    import redis.asyncio as aioredis

    from chimera.config.swarm import Swarm
    from chimera.lib.keys import Keyspace


def _no_settings() -> Mapping[str, str]:
    return {}


@dataclass(frozen=True)
class PluginContext:
    """Shared resources a plugin factory may use.

    Attributes:
        redis: the ``redis.asyncio`` client of this process (``decode_responses=True``), or
            ``None`` where there is none (``chimera validate``, a factory called in a test).
        keyspace: the :class:`~chimera.lib.keys.Keyspace` in use, or ``None`` with no Redis.
        swarm: the loaded :class:`~chimera.config.swarm.Swarm` (skills, tenants, and
            ``swarm.source`` to locate a problem in swarm.yaml), if any.
        settings: settings from the command line or environment, by name.
    """

    redis: aioredis.Redis | None = None
    keyspace: Keyspace | None = None
    swarm: Swarm | None = None
    settings: Mapping[str, str] = field(default_factory=_no_settings)
