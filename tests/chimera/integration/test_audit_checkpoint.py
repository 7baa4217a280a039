"""The audit trail trimmed behind a checkpoint: what is kept still verifies, tampering does not.

Against a real Redis: the trim is ``trim_audit.lua``, the proof ``chimera audit --verify``'s
reader (:func:`~chimera.lib.redis_audit.read_chain`).
"""

from __future__ import annotations

import json
import time

import pytest
import redis.asyncio as aioredis

from chimera.lib.fields import AUDIT_EVENT, AUDIT_HASH, AUDIT_SEQ
from chimera.lib.keys import Keyspace
from chimera.lib.redis_audit import RedisAuditSink, read_chain
from chimera.lib.redis_audit_trim import AuditTrimmer
from chimera.models.audit import AuditEvent, AuditEventType, event_id
from chimera.models.retention import Keep

pytestmark = pytest.mark.redis


def event(n: int) -> AuditEvent:
    return AuditEvent(
        id=event_id(AuditEventType.SUBMITTED, f"t{n}"),
        type=AuditEventType.SUBMITTED,
        tenant="acme",
        task_id=f"t{n}",
        data={"n": n},
    )


async def trimmed_trail(client: aioredis.Redis, keyspace: Keyspace, keep: int = 5) -> int:
    """Write 20 events, trim to the newest ``keep``; return how many records went."""
    await RedisAuditSink(client, keyspace).write([event(n) for n in range(1, 21)])
    trimmer = AuditTrimmer(client, keyspace)
    return await trimmer.trim("acme", Keep(max_count=keep), time.time(), None, False, "gc")


async def test_the_kept_records_verify_from_the_checkpoint(
    real_redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    assert await trimmed_trail(real_redis, keyspace) == 15
    check = await read_chain(real_redis, keyspace, "acme")
    assert check.ok, check.problem
    assert check.start_seq == 15
    assert [r.seq for r in check.records] == [16, 17, 18, 19, 20, 21]
    checkpoint = check.records[-1].event
    assert checkpoint.type is AuditEventType.CHECKPOINT
    assert checkpoint.actor == "gc"
    assert checkpoint.data["seq"] == 15
    assert checkpoint.data["first_seq"] == 1
    # The dedupe witness shrank with the stream, and the chain goes on being written.
    keys = keyspace.tenant("acme")
    assert await real_redis.hlen(keys.audit_ids) == 6
    sink = RedisAuditSink(real_redis, keyspace)
    await sink.write([event(20), event(21)])  # 20 is kept: stored once; 21 is new
    check = await read_chain(real_redis, keyspace, "acme")
    assert check.ok, check.problem
    assert [r.event.data.get("n") for r in check.records][-2:] == [None, 21]
    # A second trim goes behind a second checkpoint, and still verifies.
    trimmer = AuditTrimmer(real_redis, keyspace)
    assert await trimmer.trim("acme", Keep(max_count=2), time.time(), None, False, "gc") == 5
    check = await read_chain(real_redis, keyspace, "acme")
    assert check.ok, check.problem
    assert check.start_seq == 20


async def test_a_record_altered_after_the_checkpoint_is_found(
    real_redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    await trimmed_trail(real_redis, keyspace)
    keys = keyspace.tenant("acme")
    entries = await real_redis.xrange(keys.audit)
    altered = json.loads(entries[1][1][AUDIT_EVENT])
    altered["data"]["n"] = 999
    entries[1][1][AUDIT_EVENT] = json.dumps(altered)
    # A stream entry cannot be rewritten in place: write the stream again, same ids.
    await real_redis.delete(keys.audit)
    for entry_id, fields in entries:
        await real_redis.xadd(keys.audit, fields, id=entry_id)
    check = await read_chain(real_redis, keyspace, "acme")
    assert not check.ok
    assert check.broken_at == 17


async def test_an_altered_checkpoint_is_found(
    real_redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    await trimmed_trail(real_redis, keyspace)
    keys = keyspace.tenant("acme")
    await real_redis.hset(keys.audit_checkpoint, AUDIT_HASH, "f" * 64)
    check = await read_chain(real_redis, keyspace, "acme")
    assert not check.ok
    assert check.broken_at == 16


async def test_a_trim_not_behind_a_checkpoint_is_found(
    real_redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    keys = keyspace.tenant("acme")
    await RedisAuditSink(real_redis, keyspace).write([event(n) for n in range(1, 11)])
    entries = await real_redis.xrange(keys.audit)
    await real_redis.xtrim(keys.audit, minid=entries[3][0], approximate=False)
    check = await read_chain(real_redis, keyspace, "acme")
    assert not check.ok
    assert "expected seq 1, found 4" in (check.problem or "")


async def test_trimming_further_and_moving_the_checkpoint_along_is_found(
    real_redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    await trimmed_trail(real_redis, keyspace)
    keys = keyspace.tenant("acme")
    # Remove two more records and point the checkpoint at the last of them, consistently.
    entries = await real_redis.xrange(keys.audit, count=3)
    _, last_removed = entries[1]
    await real_redis.xtrim(keys.audit, minid=entries[2][0], approximate=False)
    await real_redis.hset(
        keys.audit_checkpoint,
        mapping={AUDIT_SEQ: last_removed[AUDIT_SEQ], AUDIT_HASH: last_removed[AUDIT_HASH]},
    )
    check = await read_chain(real_redis, keyspace, "acme")
    assert not check.ok
    assert "checkpoint was altered" in (check.problem or "")
    # And with the checkpoint gone altogether, the missing start is plain.
    await real_redis.delete(keys.audit_checkpoint)
    check = await read_chain(real_redis, keyspace, "acme")
    assert not check.ok
    assert "expected seq 1" in (check.problem or "")


async def test_a_pending_event_holds_the_trim_back(
    real_redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    keys = keyspace.tenant("acme")
    await RedisAuditSink(real_redis, keyspace).write([event(n) for n in range(1, 11)])
    # Event 4 is still waiting for the sinks: the audit sweep would write it again.
    await real_redis.hset(keys.audit_pending, event(4).id, event(4).model_dump_json())
    trimmer = AuditTrimmer(real_redis, keyspace)
    assert await trimmer.trim("acme", Keep(max_count=0), time.time(), None, False, "gc") == 3
    check = await read_chain(real_redis, keyspace, "acme")
    assert check.ok, check.problem
    assert check.records[0].event.id == event(4).id
