"""Garbage in any tenant's streams ends in the DLQ or a denial with a reason, and the swarm
keeps serving everyone's valid work; forged tasks never reach a backend."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from chimera.lib.fields import BODY
from chimera.lib.keys import Keyspace
from chimera.lib.redis_audit import read_chain
from chimera.models.audit import AuditEventType
from chimera.models.task import Task
from chimera.services.planner import Submission
from chimera.testing import make_result
from tests.chimera.helpers import ECHO_SKILL, FakeBackend, Running, eventually, write_swarm
from tests.chimera.stack import Stack

NOT_UTF8 = b"\xff\xfe\x00garbage\xc3"
HUGE = b"\xc3" * (3 * 1024 * 1024)


async def _committed(stack: Stack, ids: dict[str, list[str]]) -> bool:
    for tenant, wanted in ids.items():
        if len(await stack.client.hkeys(stack.keys(tenant).committed)) < len(wanted):
            return False
    return True


async def _drained(stack: Stack, tenant: str) -> bool:
    keys = stack.keys(tenant)
    return (await stack.client.xlen(keys.tasks), await stack.client.xlen(keys.results)) == (0, 0)


async def test_garbage_of_every_shape_is_dead_lettered_or_denied_with_a_reason(
    redis_client: aioredis.Redis, keyspace: Keyspace, tmp_path: Path
) -> None:
    backend = FakeBackend()
    stack = Stack(
        write_swarm(tmp_path, skills=[ECHO_SKILL]), redis_client, keyspace, {"fake": backend}
    )
    planner = stack.planner()
    await stack.queue.ensure_groups(["acme", "globex"])
    keys = stack.keys("acme")

    # The tasks stream of acme: garbage of every shape, and tasks that are none of acme's.
    misrouted = Task(tenant="globex", session="s1", skill="echo", input={"text": "misrouted"})
    forged = Task(tenant="acme", session="s9", skill="echo", input={"text": "forged"})
    task_garbage: list[dict[Any, Any]] = [
        {BODY: NOT_UTF8},
        {"payload": "no body"},
        {BODY: ""},
        {BODY: HUGE},
        {BODY: "[1, 2, 3]"},
        {BODY: make_result(misrouted, output={"echo": "x"}).model_dump_json()},
        {BODY: misrouted.model_dump_json()},
        {BODY: forged.model_dump_json()},
    ]
    for fields in task_garbage:
        await redis_client.xadd(keys.tasks, fields)
    # The results stream of acme: garbage, and Results forged for tasks not acme's.
    result_garbage: list[dict[Any, Any]] = [
        {BODY: NOT_UTF8},
        {"other": "x"},
        {BODY: HUGE},
        {BODY: forged.model_dump_json()},  # a Task where a Result belongs
        {BODY: make_result(misrouted, output={"echo": "x"}).model_dump_json()},  # globex's
        {BODY: make_result(forged, output={"echo": "x"}).model_dump_json()},  # unknown task
    ]
    for fields in result_garbage:
        await redis_client.xadd(keys.results, fields)

    # Valid work of both tenants, submitted after the garbage.
    ids: dict[str, list[str]] = {}
    for tenant in ("acme", "globex"):
        tasks = await planner.submit(
            [Submission(tenant, "echo", {"text": f"{tenant}-{i}"}) for i in range(5)], session="s1"
        )
        ids[tenant] = [t.id for t in tasks]

    async with Running(stack.worker(), stack.judge()):
        await eventually(lambda: _committed(stack, ids), within=20)
        await eventually(lambda: _drained(stack, "acme"), within=20)

    for tenant, wanted in ids.items():
        assert sorted(await redis_client.hkeys(stack.keys(tenant).committed)) == sorted(wanted)
    # Only the valid tasks reached the backend: nothing forged or misrouted was run.
    assert sorted(str(r.input["text"]) for r in backend.calls) == sorted(
        f"{t}-{i}" for t in ("acme", "globex") for i in range(5)
    )
    # Every garbage task entry is a dead letter with a reason, none bigger than a few KiB.
    letters = [json.loads(f[BODY]) for _, f in await redis_client.xrange(keys.dlq)]
    assert len(letters) == len(task_garbage)
    reasons = [letter["reason"] for letter in letters]
    assert sum(r.startswith("undecodable task entry: ") for r in reasons) == 6
    assert sum("is not in tenant 'acme''s ledger" in r for r in reasons) == 2
    assert all(letter["task"] is None for letter in letters)  # none of it is replayable
    assert max(len(f[BODY]) for _, f in await redis_client.xrange(keys.dlq)) < 8 * 1024
    # Nothing of it was counted in a session or marked settled.
    assert await redis_client.hgetall(keys.session("s9")) == {}
    assert forged.id not in await redis_client.hkeys(keys.settled)
    assert await redis_client.xlen(stack.keys("globex").dlq) == 0
    # Every garbage Result was rejected with its reason in acme's audit trail, and
    # nothing of it was written into globex's.
    acme = await read_chain(redis_client, keyspace, "acme")
    assert acme.ok
    denials = [
        r.event
        for r in acme.records
        if r.event.type in (AuditEventType.DENIED, AuditEventType.DECISION)
        and r.event.data.get("genuine") is not True
        and r.event.actor == "judge"
    ]
    reasons = [str(e.data.get("reason")) for e in denials]
    assert sum(r.startswith("undecodable result entry: ") for r in reasons) == 4
    assert any("names tenant 'globex' but came from tenant 'acme'" in r for r in reasons)
    assert any(f"no live task {forged.id} for tenant 'acme'" in r for r in reasons)
    globex = await read_chain(redis_client, keyspace, "globex")
    assert all("misrouted" not in json.dumps(r.event.data) for r in globex.records)
    assert {r.event.task_id for r in globex.records} >= set(ids["globex"])
    assert misrouted.id not in {r.event.task_id for r in globex.records}


async def test_garbage_left_pending_by_a_dead_worker_is_dead_lettered_when_reclaimed(
    redis_client: aioredis.Redis, keyspace: Keyspace, tmp_path: Path
) -> None:
    stack = Stack(write_swarm(tmp_path), redis_client, keyspace, {"fake": FakeBackend()})
    await stack.queue.ensure_groups(["acme"])
    keys = stack.keys("acme")
    await redis_client.xadd(keys.tasks, {BODY: NOT_UTF8})
    # A worker read it and died: before, every reclaim failed to decode the reply, forever.
    await stack.queue.read_tasks("died", ["acme"], 1, 10)
    async with Running(stack.worker(lease_ms=100)):
        await eventually(lambda: _dlq_len(stack, 1), within=10)
    [(_, fields)] = await redis_client.xrange(keys.dlq)
    letter = json.loads(fields[BODY])
    assert letter["reason"] == "undecodable task entry: body is not UTF-8 (byte 0xff at offset 0)"
    assert letter["raw"] == "\\xff\\xfe\\x00garbage\\xc3"
    assert letter["deliveries"] == 2
    assert (await stack.queue.stats("acme")).tasks.pending == 0


async def test_a_stale_copy_of_a_committed_task_is_discarded_unrun(
    redis_client: aioredis.Redis, keyspace: Keyspace, tmp_path: Path
) -> None:
    backend = FakeBackend()
    stack = Stack(write_swarm(tmp_path), redis_client, keyspace, {"fake": backend})
    [task] = await stack.planner().submit([Submission("acme", "echo", {"text": "once"})])
    keys = stack.keys("acme")
    async with Running(stack.worker(), stack.judge()):
        await eventually(lambda: _committed(stack, {"acme": [task.id]}))
        body = await redis_client.hget(keys.committed, task.id)
        assert body is not None
        # The same task entry again (a replayed backup, a duplicate XADD): nothing to run.
        await redis_client.xadd(keys.tasks, {BODY: task.model_dump_json()})
        await eventually(lambda: _drained(stack, "acme"))
    assert len(backend.calls) == 1
    chain = await read_chain(redis_client, keyspace, "acme")
    [dropped] = [
        r.event
        for r in chain.records
        if r.event.type is AuditEventType.DUPLICATE and r.event.actor.startswith("worker:")
    ]
    assert dropped.task_id == task.id
    assert dropped.data["reason"] == f"a stale copy: task {task.id} has settled"


async def _dlq_len(stack: Stack, n: int) -> bool:
    return bool(await stack.client.xlen(stack.keys("acme").dlq) >= n)
