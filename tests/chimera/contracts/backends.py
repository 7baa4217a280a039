"""The ports under contract, built on the in-memory fakes or on the Redis adapters.

A :class:`Backend` gives the ports and a :class:`Probe`: how a test looks at, or writes
by hand, what is stored (a hash row, a stream's length, a raw entry) without knowing
whether it is Redis or the in-memory store. The probe is for what no port shows: the
contract tests assert through the ports first and use it for the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, cast

import redis.asyncio as aioredis

from chimera.lib.keys import JUDGE_GROUP, WORKER_GROUP, Keyspace
from chimera.lib.redis_audit import RedisAuditSink, read_chain
from chimera.lib.redis_cancel import RedisTaskCanceller
from chimera.lib.redis_pending_audit import RedisPendingAudit
from chimera.lib.redis_queue import RedisQueue
from chimera.lib.redis_sessions import RedisSessionStore
from chimera.lib.redis_stores import RedisDeadLetterStore, RedisResultStore, RedisReviewStore
from chimera.lib.redis_task_status import RedisTaskStatusStore
from chimera.lib.redis_uow import RedisUnitOfWork
from chimera.models.audit import ChainCheck
from chimera.testing import FakePorts, MemoryStore
from chimera.testing.fakes.streams import Stream

#: Hashes of a tenant a probe can read and write.
HASHES = (
    "ledger",
    "committed",
    "settled",
    "review",
    "audit_pending",
    "cancelled",
    "quota",
    "usage",
    "delayed_traces",
)
#: Streams of a tenant a probe can read and write.
STREAMS = ("tasks", "results", "dlq", "audit")
_GROUPS = {"tasks": WORKER_GROUP, "results": JUDGE_GROUP}


class Probe(Protocol):
    """Reads and writes what is stored, below the ports."""

    async def hash(self, tenant: str, name: str) -> dict[str, str]: ...
    async def set_field(self, tenant: str, name: str, field: str, value: str) -> None: ...
    async def session(self, tenant: str, session: str) -> dict[str, str]: ...
    async def set_session_field(
        self, tenant: str, session: str, field: str, value: str
    ) -> None: ...
    async def delayed(self, tenant: str) -> list[str]: ...
    async def length(self, tenant: str, stream: str) -> int: ...
    async def entries(self, tenant: str, stream: str) -> list[tuple[str, dict[str, str]]]: ...
    async def add_entry(
        self, tenant: str, stream: str, fields: Mapping[str | bytes, str | bytes]
    ) -> str: ...
    async def replace_entries(
        self, tenant: str, stream: str, entries: list[dict[str, str]]
    ) -> None: ...
    async def consumers(self, tenant: str, stream: str) -> list[str]: ...


@dataclass
class Backend:
    """The ports of one backend, a probe, and how to read an audit chain back."""

    name: str
    queue: Any
    uow: Any
    sessions: Any
    reviews: Any
    dead_letters: Any
    results: Any
    task_status: Any
    pending_audit: Any
    canceller: Any
    probe: Probe
    new_audit_sink: Callable[[], Any]
    read_chain: Callable[..., Any]

    async def chain(self, tenant: str, verify: bool = True) -> ChainCheck:
        """The tenant's audit chain as the backend's sink stored it."""
        return cast(ChainCheck, await self.read_chain(tenant, verify))


class RedisProbe:
    """A :class:`Probe` over a Redis client and keyspace."""

    def __init__(self, client: aioredis.Redis, keyspace: Keyspace) -> None:
        self.client = client
        self.keys = keyspace

    def _key(self, tenant: str, name: str) -> str:
        return cast(str, getattr(self.keys.tenant(tenant), name))

    async def hash(self, tenant: str, name: str) -> dict[str, str]:
        return cast("dict[str, str]", await self.client.hgetall(self._key(tenant, name)))

    async def set_field(self, tenant: str, name: str, field: str, value: str) -> None:
        await self.client.hset(self._key(tenant, name), field, value)

    async def session(self, tenant: str, session: str) -> dict[str, str]:
        key = self.keys.tenant(tenant).session(session)
        return cast("dict[str, str]", await self.client.hgetall(key))

    async def set_session_field(self, tenant: str, session: str, field: str, value: str) -> None:
        await self.client.hset(self.keys.tenant(tenant).session(session), field, value)

    async def delayed(self, tenant: str) -> list[str]:
        return cast("list[str]", await self.client.zrange(self._key(tenant, "delayed"), 0, -1))

    async def length(self, tenant: str, stream: str) -> int:
        return int(await self.client.xlen(self._key(tenant, stream)))

    async def entries(self, tenant: str, stream: str) -> list[tuple[str, dict[str, str]]]:
        return cast(
            "list[tuple[str, dict[str, str]]]",
            await self.client.xrange(self._key(tenant, stream)),
        )

    async def add_entry(
        self, tenant: str, stream: str, fields: Mapping[str | bytes, str | bytes]
    ) -> str:
        return str(await self.client.xadd(self._key(tenant, stream), dict(fields)))  # type: ignore[arg-type]

    async def replace_entries(
        self, tenant: str, stream: str, entries: list[dict[str, str]]
    ) -> None:
        key = self._key(tenant, stream)
        await self.client.delete(key)
        for fields in entries:
            await self.client.xadd(key, fields)  # type: ignore[arg-type]

    async def consumers(self, tenant: str, stream: str) -> list[str]:
        listed = await self.client.xinfo_consumers(self._key(tenant, stream), _GROUPS[stream])
        return [str(c["name"]) for c in listed]


class MemoryProbe:
    """A :class:`Probe` over a :class:`MemoryStore`."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    def _stream(self, tenant: str, stream: str) -> Stream:
        return cast(Stream, getattr(self.store.tenant(tenant), stream))

    async def hash(self, tenant: str, name: str) -> dict[str, str]:
        return dict(getattr(self.store.tenant(tenant), name))

    async def set_field(self, tenant: str, name: str, field: str, value: str) -> None:
        getattr(self.store.tenant(tenant), name)[field] = value

    async def session(self, tenant: str, session: str) -> dict[str, str]:
        return dict(self.store.tenant(tenant).session_hashes.get(session, {}))

    async def set_session_field(self, tenant: str, session: str, field: str, value: str) -> None:
        self.store.tenant(tenant).session(session)[field] = value

    async def delayed(self, tenant: str) -> list[str]:
        delayed = self.store.tenant(tenant).delayed
        return [member for _, member in sorted((score, m) for m, score in delayed.items())]

    async def length(self, tenant: str, stream: str) -> int:
        return len(self._stream(tenant, stream))

    async def entries(self, tenant: str, stream: str) -> list[tuple[str, dict[str, str]]]:
        return list(self._stream(tenant, stream))

    async def add_entry(
        self, tenant: str, stream: str, fields: Mapping[str | bytes, str | bytes]
    ) -> str:
        # Bytes that are not UTF-8 are kept as the in-memory stream keeps them (see Fields).
        text = {_text(k): _text(v) for k, v in fields.items()}
        entry_id = self._stream(tenant, stream).add(text, self.store.now_ms())
        self.store.added()
        return entry_id

    async def replace_entries(
        self, tenant: str, stream: str, entries: list[dict[str, str]]
    ) -> None:
        fresh = Stream()
        for fields in entries:
            fresh.add(fields, self.store.now_ms())
        setattr(self.store.tenant(tenant), stream, fresh)

    async def consumers(self, tenant: str, stream: str) -> list[str]:
        group = self._stream(tenant, stream).groups.get(_GROUPS[stream])
        return sorted(group.consumers) if group else []


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value


def memory_backend() -> Backend:
    """The in-memory fakes."""
    ports = FakePorts()
    sink = ports.audit_sink
    return Backend(
        name="memory",
        queue=ports.queue,
        uow=ports.uow,
        sessions=ports.sessions,
        reviews=ports.reviews,
        dead_letters=ports.dead_letters,
        results=ports.results,
        task_status=ports.task_status,
        pending_audit=ports.pending_audit,
        canceller=ports.canceller,
        probe=MemoryProbe(ports.store),
        new_audit_sink=lambda: type(sink)(ports.store),
        read_chain=sink.read,
    )


def redis_backend(name: str, client: aioredis.Redis, keyspace: Keyspace) -> Backend:
    """The Redis adapters on ``client`` (fakeredis or a real server)."""
    return Backend(
        name=name,
        queue=RedisQueue(client, keyspace),
        uow=RedisUnitOfWork(client, keyspace),
        sessions=RedisSessionStore(client, keyspace),
        reviews=RedisReviewStore(client, keyspace),
        dead_letters=RedisDeadLetterStore(client, keyspace),
        results=RedisResultStore(client, keyspace),
        task_status=RedisTaskStatusStore(client, keyspace),
        pending_audit=RedisPendingAudit(client, keyspace),
        canceller=RedisTaskCanceller(client, keyspace),
        probe=RedisProbe(client, keyspace),
        new_audit_sink=lambda: RedisAuditSink(client, keyspace),
        read_chain=lambda tenant, verify=True: read_chain(client, keyspace, tenant, verify),
    )
