"""Redis connections: a real server by URL, or the embedded in-process one."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

#: Used by the distributed commands when neither ``--redis-url`` nor the env var is set.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
#: ``chimera run`` without a URL runs against this in-process server (fakeredis).
EMBEDDED = "embedded"


class RedisUnavailable(Exception):
    """No Redis answered at ``url``."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach Redis at {url}: {reason}")
        self.url = url


def connect(url: str | None, client_name: str | None = None) -> aioredis.Redis:
    """Return an async client for ``url``, or for the embedded server when ``url`` is empty.

    The embedded server lives in this process only (fakeredis with Lua): right for a laptop
    run, a demo or a test, and shared by every client this function returns in the process.
    """
    if not url or url == EMBEDDED:
        import fakeredis

        return fakeredis.FakeAsyncRedis(server=_embedded_server(), decode_responses=True)
    # The client name shows in CLIENT LIST, so an operator sees which connection is whose.
    return aioredis.from_url(
        url, decode_responses=True, health_check_interval=30, client_name=client_name
    )


_server: Any = None


def _embedded_server() -> Any:
    global _server
    if _server is None:
        import fakeredis

        _server = fakeredis.FakeServer(version=(7,))
    return _server


async def check_reachable(client: aioredis.Redis, url: str) -> None:
    """PING ``client``; raise :class:`RedisUnavailable` naming ``url`` if it does not answer."""
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        raise RedisUnavailable(url, str(exc) or type(exc).__name__) from None
