"""Sessions kept in Redis hashes (``<prefix>:{tenant}:session:<id>``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import redis.asyncio as aioredis

from chimera.lib.fields import SESSION_STATE
from chimera.lib.keys import Keyspace
from chimera.lib.records import session as session_record
from chimera.models.session import SessionInfo, SessionState
from chimera.models.types import utc_now


class RedisSessionStore:
    """Implements :class:`~chimera.ports.session.SessionStore` on Redis."""

    def __init__(self, client: aioredis.Redis, keyspace: Keyspace | None = None) -> None:
        self.client = client
        self.keys = keyspace or Keyspace()

    async def open(self, tenant: str, session: str) -> None:
        """Create the session hash with state ``open`` unless it exists."""
        keys = self.keys.tenant(tenant)
        async with self.client.pipeline(transaction=True) as pipe:
            for name, value in session_record.encode_new(SessionState.OPEN, utc_now()).items():
                pipe.hsetnx(keys.session(session), name, value)
            pipe.sadd(keys.sessions, session)
            await pipe.execute()

    async def set_state(self, tenant: str, session: str, state: SessionState) -> None:
        """Store the lifecycle state."""
        if state is SessionState.COMPLETED:
            raise ValueError("completed is derived from the counters and never stored")
        keys = self.keys.tenant(tenant)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(keys.session(session), SESSION_STATE, state.value)
            pipe.sadd(keys.sessions, session)
            await pipe.execute()

    async def get(self, tenant: str, session: str) -> SessionInfo | None:
        """Read one session.

        Raises:
            RecordError: the stored hash cannot be read (unknown state, a counter that is
                not a number).
        """
        key = self.keys.tenant(tenant).session(session)
        raw = cast("dict[str, str]", await self.client.hgetall(key))
        return session_record.decode(tenant, session, raw) if raw else None

    async def task_ids(self, tenant: str, session: str) -> list[str]:
        """The ids in the session's task set, sorted (ULIDs sort by creation)."""
        key = self.keys.tenant(tenant).session_tasks(session)
        return sorted(cast("set[str]", await self.client.smembers(key)))

    async def list(self, tenant: str) -> list[SessionInfo]:
        """Read every session of ``tenant``; one round trip after listing the ids.

        A session whose hash cannot be read is left out with a warning saying why.
        """
        keys = self.keys.tenant(tenant)
        ids = sorted(cast("set[str]", await self.client.smembers(keys.sessions)))
        async with self.client.pipeline(transaction=False) as pipe:
            for session in ids:
                pipe.hgetall(keys.session(session))
            rows = await pipe.execute()
        return session_record.readable(tenant, zip(ids, rows, strict=True))

    async def halted(self, pairs: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which pairs are halted; one pipelined round trip."""
        unique = sorted(set(pairs))
        if not unique:
            return set()
        async with self.client.pipeline(transaction=False) as pipe:
            for tenant, session in unique:
                pipe.hget(self.keys.tenant(tenant).session(session), SESSION_STATE)
            states = await pipe.execute()
        return {
            pair
            for pair, state in zip(unique, states, strict=True)
            if state == SessionState.HALTED.value
        }
