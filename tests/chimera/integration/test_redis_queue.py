"""The Redis Streams adapter, against fakeredis and a real Redis server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis.asyncio as aioredis
from redis.asyncio.connection import Connection

from chimera.lib.keys import WORKER_GROUP, Keyspace
from chimera.lib.redis_queue import RedisQueue
from chimera.models.result import Result
from chimera.models.task import Task
from chimera.ports.queue import DeadLetter
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


async def test_enqueue_and_read_round_trip(
    redis_client: aioredis.Redis, keyspace: Keyspace
) -> None:
    queue = RedisQueue(redis_client, keyspace)
    tasks = make_tasks(5) + make_tasks(3, tenant="globex")
    ids = await queue.enqueue(tasks)
    assert len(ids) == 8
    got = await queue.read_tasks("c1", ["acme", "globex"], count=100, block_ms=100)
    assert sorted(d.message.id for d in got if d.message) == sorted(t.id for t in tasks)
    assert {d.tenant for d in got} == {"acme", "globex"}
    ledger = await redis_client.hlen(keyspace.tenant("acme").ledger)
    assert ledger == 5
    session = await redis_client.hget(keyspace.tenant("acme").session("s1"), "submitted")
    assert session == "5"


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


async def test_read_count_bounds_delivery(redis_client: aioredis.Redis, keyspace: Keyspace) -> None:
    queue = RedisQueue(redis_client, keyspace)
    await queue.enqueue(make_tasks(50))
    first = await queue.read_tasks("c1", ["acme"], count=7, block_ms=10)
    assert len(first) == 7
    stats = await queue.stats("acme")
    assert stats.tasks.pending == 7


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
    # Other clients may share the server, so allow a little noise but never one per task.
    assert await calls("xreadgroup") - before_read < 5
    # Publishing 300 results and their acks is one script call (XACK/XADD run inside it).
    assert await calls("evalsha") - before_scripts < 5


async def test_retry_later_then_promote(redis_client: aioredis.Redis, keyspace: Keyspace) -> None:
    queue = RedisQueue(redis_client, keyspace)
    [task] = make_tasks(1)
    await queue.enqueue([task])
    [delivery] = await queue.read_tasks("c1", ["acme"], count=1, block_ms=10)
    due = time.time() + 60
    await queue.retry_later([(delivery, task.next_attempt(), due)])
    keys = keyspace.tenant("acme")
    assert await redis_client.zcard(keys.delayed) == 1
    assert (await queue.stats("acme")).tasks.pending == 0
    assert await queue.promote_due(["acme"], now=time.time()) == 0
    assert await queue.promote_due(["acme"], now=due + 1) == 1
    [again] = await queue.read_tasks("c1", ["acme"], count=1, block_ms=10)
    assert again.message is not None
    assert again.message.id == task.id
    assert again.message.attempt == 2


async def test_retry_of_entry_no_longer_pending_does_nothing(
    redis_client: aioredis.Redis, keyspace: Keyspace
) -> None:
    queue = RedisQueue(redis_client, keyspace)
    [task] = make_tasks(1)
    await queue.enqueue([task])
    [delivery] = await queue.read_tasks("c1", ["acme"], count=1, block_ms=10)
    await queue.complete([(delivery, result_for(task))])
    await queue.retry_later([(delivery, task.next_attempt(), time.time())])
    assert await redis_client.zcard(keyspace.tenant("acme").delayed) == 0


async def test_dead_letter_moves_task_with_reason(
    redis_client: aioredis.Redis, keyspace: Keyspace
) -> None:
    queue = RedisQueue(redis_client, keyspace)
    [task] = make_tasks(1)
    await queue.enqueue([task])
    [delivery] = await queue.read_tasks("c1", ["acme"], count=1, block_ms=10)
    await queue.dead_letter(
        [(delivery, DeadLetter(reason="poison", attempts=3, last_error="boom"))]
    )
    keys = keyspace.tenant("acme")
    entries = await redis_client.xrange(keys.dlq)
    assert len(entries) == 1
    assert '"reason": "poison"' in entries[0][1]["body"]
    assert await redis_client.hget(keys.settled, task.id) == "dead_lettered"
    assert not await redis_client.hexists(keys.ledger, task.id)
    assert (await queue.stats("acme")).tasks.pending == 0


async def test_claim_stale_takes_idle_entries_with_delivery_count(
    redis_client: aioredis.Redis, keyspace: Keyspace
) -> None:
    queue = RedisQueue(redis_client, keyspace)
    await queue.enqueue(make_tasks(3))
    await queue.read_tasks("dead-worker", ["acme"], count=3, block_ms=10)
    assert await queue.claim_stale("c2", ["acme"], min_idle_ms=60_000, count=10) == []
    claimed = await queue.claim_stale("c2", ["acme"], min_idle_ms=0, count=10)
    assert len(claimed) == 3
    assert all(d.deliveries == 2 for d in claimed)


async def test_renew_keeps_only_owned_entries(
    redis_client: aioredis.Redis, keyspace: Keyspace
) -> None:
    queue = RedisQueue(redis_client, keyspace)
    await queue.enqueue(make_tasks(2))
    mine = await queue.read_tasks("c1", ["acme"], count=2, block_ms=10)
    stolen = await queue.claim_stale("c2", ["acme"], min_idle_ms=0, count=1)
    owned = await queue.renew("c1", mine)
    assert owned == {d.key for d in mine} - {d.key for d in stolen}


async def test_release_hands_task_back(redis_client: aioredis.Redis, keyspace: Keyspace) -> None:
    queue = RedisQueue(redis_client, keyspace)
    [task] = make_tasks(1)
    await queue.enqueue([task])
    got = await queue.read_tasks("c1", ["acme"], count=1, block_ms=10)
    await queue.release(got)
    again = await queue.read_tasks("c2", ["acme"], count=1, block_ms=10)
    assert [d.message.id for d in again if d.message] == [task.id]
    assert (await queue.stats("acme")).tasks.pending == 1


async def test_prune_forgets_idle_consumers_without_pending_entries(
    redis_client: aioredis.Redis, keyspace: Keyspace
) -> None:
    queue = RedisQueue(redis_client, keyspace)
    await queue.enqueue(make_tasks(2))
    [first] = await queue.read_tasks("gone", ["acme"], 1, 10)
    await queue.complete([(first, result_for(first.message))])  # nothing pending any more
    await queue.read_tasks("busy", ["acme"], 1, 10)  # still holds one entry
    await asyncio.sleep(0.02)
    assert await queue.prune_consumers(["acme"], idle_ms=10) == 1
    names = [
        c["name"]
        for c in await redis_client.xinfo_consumers(keyspace.tenant("acme").tasks, WORKER_GROUP)
    ]
    assert names == ["busy"]


async def test_stale_copies_of_a_settled_task_change_nothing(
    redis_client: aioredis.Redis, keyspace: Keyspace
) -> None:
    queue = RedisQueue(redis_client, keyspace)
    keys = keyspace.tenant("acme")
    [task] = make_tasks(1)
    await queue.enqueue([task])
    first = await queue.read_tasks("c1", ["acme"], 1, 10)
    await queue.release(first)  # a second copy of the same task now waits in the stream
    [copy] = await queue.read_tasks("c2", ["acme"], 1, 10)
    await redis_client.hset(keys.settled, task.id, "committed")  # the first copy won
    await queue.retry_later([(copy, task.next_attempt(), time.time())])
    assert await redis_client.zcard(keys.delayed) == 0
    await queue.enqueue([task])
    [again] = await queue.read_tasks("c2", ["acme"], 1, 10)
    await queue.dead_letter([(again, DeadLetter(reason="gave up", attempts=3))])
    assert await redis_client.xlen(keys.dlq) == 0
    assert await redis_client.hget(keys.settled, task.id) == "committed"


async def test_results_are_not_published_for_entries_someone_else_took(
    redis_client: aioredis.Redis, keyspace: Keyspace
) -> None:
    queue = RedisQueue(redis_client, keyspace)
    [task] = make_tasks(1)
    await queue.enqueue([task])
    [mine] = await queue.read_tasks("slow", ["acme"], 1, 10)
    [theirs] = await queue.claim_stale("fast", ["acme"], 0, 1)
    await queue.complete([(theirs, result_for(task))])
    await queue.complete([(mine, result_for(task))])  # too late: the entry is gone
    assert await redis_client.xlen(keyspace.tenant("acme").results) == 1
