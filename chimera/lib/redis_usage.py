"""Redis adapter for token usage: the tenant's usage hash, one field per UTC day."""

from __future__ import annotations

import redis.asyncio as aioredis

from chimera.lib.keys import Keyspace


class RedisUsageStore:
    """Implements :class:`~chimera.ports.quota.UsageStore` (counted by ``COUNT_USAGE``)."""

    def __init__(self, client: aioredis.Redis, keyspace: Keyspace | None = None) -> None:
        self.client = client
        self.keys = keyspace or Keyspace()

    async def tokens(self, tenant: str, day: str) -> int:
        """The day's field of the tenant's usage hash."""
        value = await self.client.hget(self.keys.tenant(tenant).usage, day)
        return int(value) if value is not None else 0
