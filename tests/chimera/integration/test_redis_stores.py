"""The Redis audit sink: what only Redis shows (contention on the chain head, its name).

What every store and sink must do is checked by the contract suite
(``tests/chimera/contracts``), against the in-memory fakes and the Redis adapters on
fakeredis and on a real Redis.
"""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from chimera.lib import redis_audit
from chimera.lib.keys import Keyspace
from chimera.lib.redis_audit import RedisAuditSink, read_chain
from chimera.models.audit import AuditEvent, AuditEventType


def event(tenant: str, n: int, actor: str = "chimera") -> AuditEvent:
    return AuditEvent(
        type=AuditEventType.SUBMITTED, tenant=tenant, task_id=f"t{n}", actor=actor, data={"n": n}
    )


async def test_the_redis_sink_is_named_redis(
    redis_client: aioredis.Redis, keyspace: Keyspace
) -> None:
    assert RedisAuditSink(redis_client, keyspace).name == "redis"


async def test_audit_sink_gives_up_when_the_head_keeps_moving(
    redis_client: aioredis.Redis, keyspace: Keyspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    other, stale = RedisAuditSink(redis_client, keyspace), RedisAuditSink(redis_client, keyspace)
    await other.write([event("acme", 1)])
    monkeypatch.setattr(redis_audit, "_CAS_DEADLINE_S", 0.0)
    with pytest.raises(RuntimeError, match="audit chain of tenant 'acme' kept moving"):
        await stale.write([event("acme", 2)])
    check = await read_chain(redis_client, keyspace, "acme")
    assert [r.event.data["n"] for r in check.records] == [1]


async def test_a_stale_writer_re_links_after_the_head_moved(
    redis_client: aioredis.Redis, keyspace: Keyspace
) -> None:
    other, stale = RedisAuditSink(redis_client, keyspace), RedisAuditSink(redis_client, keyspace)
    await stale.write([event("acme", 1)])
    await other.write([event("acme", 2)])  # the stale sink's cached head is now behind
    await stale.write([event("acme", 3)])
    check = await read_chain(redis_client, keyspace, "acme")
    assert check.ok
    assert [r.event.data["n"] for r in check.records] == [1, 2, 3]
