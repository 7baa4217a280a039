"""The ``redis`` audit sink: a per-tenant stream of hash-chained records, and its verifier."""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import cast

import redis.asyncio as aioredis
from ulid import ULID

from chimera.lib.fields import AUDIT_HASH, AUDIT_SEQ
from chimera.lib.keys import Keyspace
from chimera.lib.lua.audit_scripts import AuditAppend
from chimera.lib.records import audit_record
from chimera.lib.redis_lua import LuaBatch
from chimera.models.audit import GENESIS_HASH, AuditEvent, ChainCheck

#: Entries of the audit stream read per round trip when looking for one task's events.
PAGE = 1000

#: How far before a task's creation (its ULID's time) its events are looked for.
CLOCK_SLACK_MS = 10 * 60 * 1000

#: Give up appending after losing the race for the chain head for this long.
_CAS_DEADLINE_S = 10.0


class RedisAuditSink:
    """Appends events to ``<prefix>:{tenant}:audit`` with a per-tenant sequence and hash chain.

    Hashes are SHA-256, computed here; the append is a compare-and-set on the chain head in
    Lua, so many processes may write one tenant's chain and it stays a single line.
    """

    name = "redis"

    def __init__(self, client: aioredis.Redis, keyspace: Keyspace | None = None) -> None:
        self.client = client
        self.keys = keyspace or Keyspace()
        self._lua = LuaBatch(client)
        self._heads: dict[str, tuple[int, str]] = {}
        # One writer per tenant in this process: racing ourselves only adds lost rounds.
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def write(self, events: Sequence[AuditEvent]) -> None:
        """Append ``events``, grouped per tenant, in order.

        An event whose id is stored already is skipped: it is the same event written again
        after a lost reply or a crash.
        """
        by_tenant: dict[str, dict[str, str]] = defaultdict(dict)
        for event in events:
            # The JSON made when the event was kept pending, if it was: the chain stores
            # (and hashes) that very string, serialised once.
            by_tenant[event.tenant].setdefault(event.id, event.stored_json())
        for tenant, tenant_events in by_tenant.items():
            async with self._locks[tenant]:
                await self._append_chain(tenant, tenant_events)

    async def _append_chain(self, tenant: str, events: dict[str, str]) -> None:
        script = AuditAppend.of(self.keys.tenant(tenant))
        seq, prev = self._heads.get(tenant, (0, GENESIS_HASH))
        deadline = time.monotonic() + _CAS_DEADLINE_S
        pause = 0.001
        while events:
            links = audit_record.chain(seq, prev, list(events.items()))
            reply = await self._lua.run_one(script.call(expected_seq=seq, links=links))
            if reply.appended:
                self._heads[tenant] = (reply.head_seq, reply.head_hash)
                return
            seq, prev = reply.head_seq, reply.head_hash or GENESIS_HASH
            if reply.stored:
                # Stored already: drop them and hash the rest against the same head.
                for event_id in reply.stored:
                    events.pop(event_id, None)
                continue
            if time.monotonic() > deadline:
                raise RuntimeError(f"audit chain of tenant {tenant!r} kept moving; gave up")
            # Other processes are appending too: back off a little, with jitter, so that
            # contending writers stop colliding in lockstep.
            await asyncio.sleep(random.uniform(0, pause))
            pause = min(pause * 2, 0.05)


async def read_chain(
    client: aioredis.Redis, keyspace: Keyspace, tenant: str, verify: bool = True
) -> ChainCheck:
    """Read a tenant's audit stream and check every link, from its checkpoint if it was trimmed.

    Returns:
        The records, and the sequence number (and reason) of the first broken entry.
    """
    keys = keyspace.tenant(tenant)
    async with client.pipeline(transaction=True) as pipe:
        pipe.xrange(keys.audit)
        pipe.hgetall(keys.audit_head)
        pipe.hgetall(keys.audit_ids)
        pipe.hgetall(keys.audit_checkpoint)
        entries, head, witnesses, stored_checkpoint = await pipe.execute()
    entries = cast("list[tuple[str, dict[str, str]]]", entries)
    head_seq = int(head.get(AUDIT_SEQ, 0)) if head else 0
    checkpoint = _checkpoint(stored_checkpoint) if stored_checkpoint else None
    return audit_record.check(
        entries,
        verify,
        head=(head_seq, head.get(AUDIT_HASH, "")),
        witnesses=witnesses,
        checkpoint=checkpoint,
    )


def _checkpoint(stored: dict[str, str]) -> tuple[int, str]:
    """The checkpoint hash as ``(seq, hash)``.

    A seq that is not a number reads as -1, which no record follows: the verifier then
    reports the break.
    """
    text = stored.get(AUDIT_SEQ, "")
    return (int(text) if text.isdigit() else -1), stored.get(AUDIT_HASH, "")


class RedisAuditTrail:
    """Implements :class:`~chimera.ports.audit.AuditTrail` over the ``redis`` sink's streams."""

    def __init__(self, client: aioredis.Redis, keyspace: Keyspace) -> None:
        self.client = client
        self.keys = keyspace

    async def read(self, tenant: str, verify: bool) -> ChainCheck:
        """Read ``tenant``'s audit stream; with ``verify``, check every link."""
        return await read_chain(self.client, self.keys, tenant, verify=verify)

    async def task_events(self, tenant: str, task_id: str) -> list[AuditEvent]:
        """The events of ``tenant``'s trail about ``task_id``, oldest first.

        The trail has no index by task: it is read in pages of :data:`PAGE` entries (a
        long trail never makes one huge reply) and only entries naming the id are parsed.
        A task id that is a ULID (chimera's own) says when the task was made: the trail is
        read from :data:`CLOCK_SLACK_MS` before that, since nothing about the task can be
        recorded earlier (the slack covers clocks of other machines running behind).
        """
        key = self.keys.tenant(tenant).audit
        found: list[AuditEvent] = []
        start = _not_before(task_id)
        while True:
            page = cast(
                "list[tuple[str, dict[str, str]]]",
                await self.client.xrange(key, min=start, max="+", count=PAGE),
            )
            found.extend(audit_record.events_about(page, task_id))
            if len(page) < PAGE:
                return found
            start = "(" + page[-1][0]


def _not_before(task_id: str) -> str:
    """The first stream id that may hold an event of ``task_id`` (``-``: the start)."""
    try:
        made_ms = ULID.from_str(task_id).milliseconds
    except ValueError:
        return "-"
    return f"{max(made_ms - CLOCK_SLACK_MS, 0)}-0"
