"""The Redis Streams adapter: what only Redis shows (round trips, commands per batch, groups).

What every queue must do is checked by the contract suite (``tests/chimera/contracts``),
against the in-memory fake and this adapter on fakeredis and on a real Redis.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis.asyncio as aioredis
from redis.asyncio.connection import Connection

from chimera.lib.keys import WORKER_GROUP, Keyspace
from chimera.lib.redis_queue import RedisQueue
from chimera.models.result import Result
from chimera.models.task import Task
from chimera.testing import make_result


def make_tasks(n: int, tenant: str = "acme", session: str = "s1") -> list[Task]:
    return [
        Task(tenant=tenant, session=session, skill="summarise", input={"i": i}) for i in range(n)
    ]


def result_for(task: Task) -> Result:
    return make_result(task, output={"ok": True})


class RoundTrips:
    """Counts packets sent to Redis: one per command, one per pipeline."""

    def __init__(self) -> None:
        self.count = 0


@contextmanager
def count_round_trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[RoundTrips]:
    counter = RoundTrips()
    original = Connection.send_packed_command

    async def counting(self: Connection, command: object, check_health: bool = True) -> None:
        counter.count += 1
        await original(self, command, check_health)  # type: ignore[arg-type]

    monkeypatch.setattr(Connection, "send_packed_command", counting)
    yield counter
    monkeypatch.setattr(Connection, "send_packed_command", original)


async def test_ensure_groups_tolerates_existing_group(
    redis_client: aioredis.Redis, keyspace: Keyspace
) -> None:
    await RedisQueue(redis_client, keyspace).ensure_groups(["acme"])
    await RedisQueue(redis_client, keyspace).ensure_groups(["acme"])  # BUSYGROUP is fine
    groups = await redis_client.xinfo_groups(keyspace.tenant("acme").tasks)
    assert [g["name"] for g in groups] == [WORKER_GROUP]


async def test_enqueue_is_one_round_trip_per_batch(
    redis_client: aioredis.Redis, keyspace: Keyspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = RedisQueue(redis_client, keyspace)
    await queue.enqueue(make_tasks(1))  # first use loads the scripts
    with count_round_trips(monkeypatch) as trips:
        await queue.enqueue(make_tasks(200))
    assert trips.count == 1
    assert await redis_client.xlen(keyspace.tenant("acme").tasks) == 201


async def test_complete_publishes_results_and_acks_in_one_round_trip(
    redis_client: aioredis.Redis, keyspace: Keyspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = RedisQueue(redis_client, keyspace)
    await queue.enqueue(make_tasks(100))
    deliveries = await queue.read_tasks("c1", ["acme"], count=100, block_ms=10)
    done = [(d, result_for(d.message)) for d in deliveries if d.message]
    await queue.complete(done[:1])  # first use loads the script
    with count_round_trips(monkeypatch) as trips:
        await queue.complete(done[1:])
    assert trips.count == 1
    keys = keyspace.tenant("acme")
    assert await redis_client.xlen(keys.results) == 100
    assert await redis_client.xlen(keys.tasks) == 0  # acked entries are deleted
    stats = await queue.stats("acme")
    assert stats.tasks.pending == 0
    results = await queue.read_results("j1", ["acme"], count=1000, block_ms=10)
    assert {r.message.task_id for r in results if r.message} == {
        t.id for t, _ in [(d.message, 0) for d in deliveries]
    }


async def test_real_redis_counts_commands_per_batch_not_per_task(
    real_redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    queue = RedisQueue(real_redis, keyspace)
    await queue.ensure_groups(["acme"])

    async def calls(command: str) -> int:
        stats = await real_redis.info("commandstats")
        return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))

    before_read = await calls("xreadgroup")
    before_scripts = await calls("evalsha")
    await queue.enqueue(make_tasks(300))
    deliveries = await queue.read_tasks("c1", ["acme"], count=300, block_ms=10)
    await queue.complete([(d, result_for(d.message)) for d in deliveries if d.message])
    # The counts are server-wide and other clients (a worker left by another suite sharing
    # this Redis) add tens of calls a second; the bound stays far below one per task (300).
    assert await calls("xreadgroup") - before_read < 60
    # Publishing 300 results and their acks is one script call (XACK/XADD run inside it).
    assert await calls("evalsha") - before_scripts < 60
