"""Heartbeats in Redis: one hash per tenant, consumer name → heartbeat JSON.

One key per command and per tenant, under the tenant's hash tag: works under a tenant's
ACL user (``~chimera:{acme}:*``) and in Redis Cluster. The hash itself expires a few TTLs
after the last beat, so a swarm whose processes all died leaves nothing behind; records of
single dead processes are pruned by the live ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import redis.asyncio as aioredis
from pydantic import ValidationError

from chimera.lib.keys import Keyspace
from chimera.models.presence import Heartbeat

#: The hash lives this many TTLs after the last beat of any process.
_KEEP_TTLS = 4


class RedisPresenceStore:
    """Implements :class:`~chimera.ports.presence.PresenceStore`."""

    def __init__(self, client: aioredis.Redis, keyspace: Keyspace | None = None) -> None:
        self.client = client
        self.keys = keyspace or Keyspace()

    async def beat(self, records: Sequence[tuple[str, Heartbeat]]) -> None:
        """HSET each record and push its hash's expiry; one pipelined round trip."""
        if not records:
            return
        async with self.client.pipeline(transaction=False) as pipe:
            for tenant, record in records:
                key = self.keys.tenant(tenant).heartbeats
                pipe.hset(key, record.consumer, record.model_dump_json())
                pipe.pexpire(key, int(record.ttl_s * _KEEP_TTLS * 1000))
            await pipe.execute()

    async def live(self, tenant: str, now: datetime) -> list[Heartbeat]:
        """The records of ``tenant`` whose TTL has not run out, by consumer name."""
        return [r for r in await self._all(tenant) if r.live_at(now)]

    async def forget(self, consumer: str, tenants: Sequence[str]) -> None:
        """HDEL the consumer's record in every tenant; one pipelined round trip."""
        if not tenants:
            return
        async with self.client.pipeline(transaction=False) as pipe:
            for tenant in tenants:
                pipe.hdel(self.keys.tenant(tenant).heartbeats, consumer)
            await pipe.execute()

    async def prune(self, tenant: str, before: datetime) -> int:
        """HDEL records (and unreadable fields) that expired before ``before``."""
        key = self.keys.tenant(tenant).heartbeats
        raw = await self.client.hgetall(key)
        dead = []
        for consumer, body in raw.items():
            record = _parse(body)
            if record is None or record.expires_at < before:
                dead.append(consumer)
        if dead:
            await self.client.hdel(key, *dead)
        return len(dead)

    async def _all(self, tenant: str) -> list[Heartbeat]:
        raw = await self.client.hgetall(self.keys.tenant(tenant).heartbeats)
        records = [_parse(body) for _, body in sorted(raw.items())]
        return [r for r in records if r is not None]


def _parse(body: str | bytes) -> Heartbeat | None:
    try:
        return Heartbeat.model_validate_json(body)
    except ValidationError:
        return None  # not a heartbeat this version reads: not counted, and pruned
