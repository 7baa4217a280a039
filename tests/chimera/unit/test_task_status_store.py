"""Looking a task up by id: what each stored record says about its state."""

from __future__ import annotations

import json

import redis.asyncio as aioredis

from chimera.lib.keys import Keyspace
from chimera.lib.redis_task_status import RedisTaskStatusStore
from chimera.models.decision import Decision, Verdict
from chimera.ports.stores import TaskState
from chimera.testing import make_result, make_task


async def test_each_record_gives_its_state(
    redis_client: aioredis.Redis, keyspace: Keyspace
) -> None:
    store = RedisTaskStatusStore(redis_client, keyspace)
    keys = keyspace.tenant("acme")
    pending, parked, committed, denied, dead = (make_task(tenant="acme") for _ in range(5))
    result = make_result(committed)
    parked_result = make_result(parked)
    decision = Decision.on(parked_result, Verdict.HITL, "sensitive skill", "threshold")
    await redis_client.hset(keys.ledger, pending.id, pending.model_dump_json())
    review = {
        "task": parked.model_dump(mode="json"),
        "result": parked_result.model_dump(mode="json"),
        "decision": decision.model_dump(mode="json"),
    }
    await redis_client.hset(keys.review, parked.id, json.dumps(review))
    await redis_client.hset(keys.ledger, parked.id, parked.model_dump_json())
    await redis_client.hset(keys.committed, committed.id, result.model_dump_json())
    await redis_client.hset(keys.settled, committed.id, "committed")
    await redis_client.hset(keys.settled, denied.id, "denied")
    await redis_client.hset(keys.settled, dead.id, "dead_lettered")

    found = await store.status("acme", pending.id)
    assert (found.state, found.task) == (TaskState.PENDING, pending)
    found = await store.status("acme", parked.id)
    assert (found.state, found.task, found.result) == (TaskState.REVIEW, parked, parked_result)
    assert found.decision is not None
    assert found.decision.reason == "sensitive skill"
    found = await store.status("acme", committed.id)
    assert (found.state, found.result) == (TaskState.COMMITTED, result)
    assert (await store.status("acme", denied.id)).state is TaskState.DENIED
    assert (await store.status("acme", dead.id)).state is TaskState.DEAD_LETTERED


async def test_other_tenants_and_strange_ids_are_unknown(
    redis_client: aioredis.Redis, keyspace: Keyspace
) -> None:
    store = RedisTaskStatusStore(redis_client, keyspace)
    task = make_task(tenant="acme")
    await redis_client.hset(keyspace.tenant("acme").ledger, task.id, task.model_dump_json())
    assert (await store.status("globex", task.id)).state is TaskState.UNKNOWN
    assert (await store.status("acme", "*")).state is TaskState.UNKNOWN
    assert (await store.status("acme", "x" * 500)).state is TaskState.UNKNOWN


async def test_a_review_item_of_another_shape_still_reads_as_review(
    redis_client: aioredis.Redis, keyspace: Keyspace
) -> None:
    store = RedisTaskStatusStore(redis_client, keyspace)
    task = make_task(tenant="acme")
    item = {
        "task": task.model_dump(mode="json"),
        "result": {"not": "a result"},
        "proposed_call": {"tool": "issue_refund"},
    }
    await redis_client.hset(keyspace.tenant("acme").review, task.id, json.dumps(item))
    found = await store.status("acme", task.id)
    assert (found.state, found.task, found.result) == (TaskState.REVIEW, task, None)
