"""Contract of the queue ports (TaskQueue, ResultQueue, QueueStats): fakes and Redis alike."""

from __future__ import annotations

import asyncio
import time

from chimera.lib.fields import BODY, Settled
from chimera.models.result import Result
from chimera.models.task import Task
from chimera.ports.queue import DeadLetter
from chimera.testing import make_result
from tests.chimera.contracts.backends import Backend


def make_tasks(n: int, tenant: str = "acme", session: str = "s1") -> list[Task]:
    return [
        Task(tenant=tenant, session=session, skill="summarise", input={"i": i}) for i in range(n)
    ]


def result_for(task: Task) -> Result:
    return make_result(task, output={"ok": True})


async def test_enqueue_and_read_round_trip(backend: Backend) -> None:
    queue = backend.queue
    tasks = make_tasks(5) + make_tasks(3, tenant="globex")
    ids = await queue.enqueue(tasks)
    assert len(ids) == 8
    got = await queue.read_tasks("c1", ["acme", "globex"], count=100, block_ms=100)
    assert sorted(d.message.id for d in got if d.message) == sorted(t.id for t in tasks)
    assert {d.tenant for d in got} == {"acme", "globex"}
    assert len(await backend.probe.hash("acme", "ledger")) == 5
    assert (await backend.probe.session("acme", "s1"))["submitted"] == "5"


async def test_enqueue_returns_entry_ids_in_task_order(backend: Backend) -> None:
    tasks = [make_tasks(1, session=s)[0] for s in ("s1", "s2", "s1")]
    ids = await backend.queue.enqueue(tasks)
    got = await backend.queue.read_tasks("c1", ["acme"], count=10, block_ms=10)
    by_entry = {d.entry_id: d.message.id for d in got if d.message}
    assert [by_entry[i] for i in ids] == [t.id for t in tasks]
    assert await backend.queue.enqueue([]) == []


async def test_read_count_bounds_delivery(backend: Backend) -> None:
    queue = backend.queue
    await queue.enqueue(make_tasks(50))
    first = await queue.read_tasks("c1", ["acme"], count=7, block_ms=10)
    assert len(first) == 7
    stats = await queue.stats("acme")
    assert stats.tasks.pending == 7
    assert await queue.read_tasks("c1", ["acme"], count=0, block_ms=10) == []


async def test_complete_publishes_results_and_acks(backend: Backend) -> None:
    queue = backend.queue
    await queue.enqueue(make_tasks(100))
    deliveries = await queue.read_tasks("c1", ["acme"], count=100, block_ms=10)
    done = [(d, result_for(d.message)) for d in deliveries if d.message]
    await queue.complete(done)
    assert await backend.probe.length("acme", "results") == 100
    assert await backend.probe.length("acme", "tasks") == 0  # acked entries are deleted
    stats = await queue.stats("acme")
    assert stats.tasks.pending == 0
    assert stats.results.length == 100
    results = await queue.read_results("j1", ["acme"], count=1000, block_ms=10)
    assert {r.message.task_id for r in results if r.message} == {
        d.message.id for d in deliveries if d.message
    }


async def test_retry_later_then_promote(backend: Backend) -> None:
    queue = backend.queue
    [task] = make_tasks(1)
    await queue.enqueue([task])
    [delivery] = await queue.read_tasks("c1", ["acme"], count=1, block_ms=10)
    due = time.time() + 60
    assert await queue.retry_later([(delivery, task.next_attempt(), due)]) == [True]
    assert len(await backend.probe.delayed("acme")) == 1
    assert (await queue.stats("acme")).tasks.pending == 0
    assert (await queue.stats("acme")).delayed == 1
    assert await queue.promote_due(["acme"], now=time.time()) == 0
    assert await queue.promote_due(["acme"], now=due + 1) == 1
    [again] = await queue.read_tasks("c1", ["acme"], count=1, block_ms=10)
    assert again.message is not None
    assert again.message.id == task.id
    assert again.message.attempt == 2
    assert (await backend.probe.session("acme", "s1"))["retried"] == "1"


async def test_deferring_without_counting_a_retry(backend: Backend) -> None:
    [task] = make_tasks(1)
    await backend.queue.enqueue([task])
    [delivery] = await backend.queue.read_tasks("c1", ["acme"], count=1, block_ms=10)
    scheduled = await backend.queue.retry_later(
        [(delivery, task, time.time() + 60)], count_as_retry=False
    )
    assert scheduled == [True]
    assert await backend.probe.delayed("acme") == [task.model_dump_json()]
    assert "retried" not in await backend.probe.session("acme", "s1")


async def test_promote_moves_the_oldest_due_first_up_to_the_limit(backend: Backend) -> None:
    queue = backend.queue
    tasks = make_tasks(3)
    await queue.enqueue(tasks)
    deliveries = await queue.read_tasks("c1", ["acme"], count=3, block_ms=10)
    by_id = {t.id: t for t in tasks}
    now = time.time()
    dues = {tasks[0].id: now - 1, tasks[1].id: now - 3, tasks[2].id: now - 2}
    await queue.retry_later(
        [(d, by_id[d.message.id], dues[d.message.id]) for d in deliveries if d.message]
    )
    assert await queue.promote_due(["acme"], now=now, limit=2) == 2
    got = await queue.read_tasks("c1", ["acme"], count=3, block_ms=10)
    assert {d.message.id for d in got if d.message} == {tasks[1].id, tasks[2].id}
    assert await queue.promote_due(["acme"], now=now) == 1


async def test_retry_of_entry_no_longer_pending_does_nothing(backend: Backend) -> None:
    queue = backend.queue
    [task] = make_tasks(1)
    await queue.enqueue([task])
    [delivery] = await queue.read_tasks("c1", ["acme"], count=1, block_ms=10)
    await queue.complete([(delivery, result_for(task))])
    assert await queue.retry_later([(delivery, task.next_attempt(), time.time())]) == [False]
    assert await backend.probe.delayed("acme") == []


async def test_dead_letter_moves_task_with_reason(backend: Backend) -> None:
    queue = backend.queue
    [task] = make_tasks(1)
    await queue.enqueue([task])
    [delivery] = await queue.read_tasks("c1", ["acme"], count=1, block_ms=10)
    letter = DeadLetter(reason="poison", attempts=3, last_error="boom")
    assert await queue.dead_letter([(delivery, letter)]) == [True]
    entries = await backend.probe.entries("acme", "dlq")
    assert len(entries) == 1
    assert '"reason": "poison"' in entries[0][1][BODY]
    assert (await backend.probe.hash("acme", "settled"))[task.id] == Settled.DEAD_LETTERED
    assert task.id not in await backend.probe.hash("acme", "ledger")
    assert (await queue.stats("acme")).tasks.pending == 0
    assert (await queue.stats("acme")).dead_lettered == 1
    # A second attempt on the same delivery lost the race: nothing changes.
    assert await queue.dead_letter([(delivery, letter)]) == [False]
    assert await backend.probe.length("acme", "dlq") == 1


async def test_claim_stale_takes_idle_entries_with_delivery_count(backend: Backend) -> None:
    queue = backend.queue
    await queue.enqueue(make_tasks(3))
    await queue.read_tasks("dead-worker", ["acme"], count=3, block_ms=10)
    assert await queue.claim_stale("c2", ["acme"], min_idle_ms=60_000, count=10) == []
    claimed = await queue.claim_stale("c2", ["acme"], min_idle_ms=0, count=10)
    assert len(claimed) == 3
    assert all(d.deliveries == 2 for d in claimed)


async def test_claim_stale_respects_count(backend: Backend) -> None:
    await backend.queue.enqueue(make_tasks(5))
    await backend.queue.read_tasks("dead-worker", ["acme"], count=5, block_ms=10)
    assert len(await backend.queue.claim_stale("c2", ["acme"], 0, count=2)) == 2
    assert len(await backend.queue.claim_stale("c3", ["acme"], 60_000, count=5)) == 0


async def test_renew_keeps_only_owned_entries(backend: Backend) -> None:
    queue = backend.queue
    await queue.enqueue(make_tasks(2))
    mine = await queue.read_tasks("c1", ["acme"], count=2, block_ms=10)
    stolen = await queue.claim_stale("c2", ["acme"], min_idle_ms=0, count=1)
    owned = await queue.renew("c1", mine)
    assert owned == {d.key for d in mine} - {d.key for d in stolen}
    assert await queue.renew("c1", []) == set()


async def test_renewed_results_are_not_claimed_and_a_taken_one_is_not_renewed(
    backend: Backend,
) -> None:
    queue = backend.queue
    tasks = make_tasks(2)
    await queue.enqueue(tasks)
    deliveries = await queue.read_tasks("w1", ["acme"], count=2, block_ms=10)
    await queue.complete([(d, result_for(d.message)) for d in deliveries if d.message])
    held = await queue.read_results("j1", ["acme"], 10, 10)
    await asyncio.sleep(0.3)  # idle long enough to be claimed with a 250 ms lease...
    assert await queue.renew_results("j1", held) == {d.key for d in held}
    # ...but renewed just now, so nobody may claim them.
    assert await queue.claim_stale_results("j2", ["acme"], 250, 10) == []
    [taken] = await queue.claim_stale_results("j2", ["acme"], 0, 1)
    assert await queue.renew_results("j1", held) == {d.key for d in held} - {taken.key}
    assert await queue.renew_results("j1", []) == set()


async def test_release_hands_task_back(backend: Backend) -> None:
    queue = backend.queue
    [task] = make_tasks(1)
    await queue.enqueue([task])
    got = await queue.read_tasks("c1", ["acme"], count=1, block_ms=10)
    await queue.release(got)
    again = await queue.read_tasks("c2", ["acme"], count=1, block_ms=10)
    assert [d.message.id for d in again if d.message] == [task.id]
    assert again[0].deliveries == 1  # a fresh entry
    assert (await queue.stats("acme")).tasks.pending == 1


async def test_prune_forgets_idle_consumers_without_pending_entries(backend: Backend) -> None:
    queue = backend.queue
    await queue.enqueue(make_tasks(2))
    [first] = await queue.read_tasks("gone", ["acme"], 1, 10)
    await queue.complete([(first, result_for(first.message))])  # nothing pending any more
    await queue.read_tasks("busy", ["acme"], 1, 10)  # still holds one entry
    await asyncio.sleep(0.02)
    assert await queue.prune_consumers(["acme"], idle_ms=10) == 1
    assert await backend.probe.consumers("acme", "tasks") == ["busy"]


async def test_stale_copies_of_a_settled_task_change_nothing(backend: Backend) -> None:
    queue = backend.queue
    [task] = make_tasks(1)
    await queue.enqueue([task])
    first = await queue.read_tasks("c1", ["acme"], 1, 10)
    await queue.release(first)  # a second copy of the same task now waits in the stream
    [copy] = await queue.read_tasks("c2", ["acme"], 1, 10)
    await backend.probe.set_field("acme", "settled", task.id, "committed")  # the first won
    assert await queue.retry_later([(copy, task.next_attempt(), time.time())]) == [False]
    assert await backend.probe.delayed("acme") == []
    await queue.enqueue([task])
    [again] = await queue.read_tasks("c2", ["acme"], 1, 10)
    assert await queue.dead_letter([(again, DeadLetter(reason="gave up", attempts=3))]) == [False]
    assert await backend.probe.length("acme", "dlq") == 0
    assert (await backend.probe.hash("acme", "settled"))[task.id] == "committed"


async def test_results_are_not_published_for_entries_someone_else_took(backend: Backend) -> None:
    queue = backend.queue
    [task] = make_tasks(1)
    await queue.enqueue([task])
    [mine] = await queue.read_tasks("slow", ["acme"], 1, 10)
    [theirs] = await queue.claim_stale("fast", ["acme"], 0, 1)
    await queue.complete([(theirs, result_for(task))])
    await queue.complete([(mine, result_for(task))])  # too late: the entry is gone
    assert await backend.probe.length("acme", "results") == 1


async def test_undecodable_entries_are_delivered_with_their_raw_body(backend: Backend) -> None:
    await backend.queue.ensure_groups(["acme"])
    await backend.probe.add_entry("acme", "tasks", {BODY: "not json"})
    [delivery] = await backend.queue.read_tasks("c1", ["acme"], 1, 10)
    assert delivery.message is None
    assert delivery.raw == "not json"


async def test_own_pending_results_are_read_again(backend: Backend) -> None:
    queue = backend.queue
    tasks = make_tasks(2)
    await queue.enqueue(tasks)
    deliveries = await queue.read_tasks("w1", ["acme"], 2, 10)
    await queue.complete([(d, result_for(d.message)) for d in deliveries if d.message])
    read = await queue.read_results("j1", ["acme"], 10, 10)
    assert len(read) == 2
    assert await queue.read_results("j1", ["acme"], 10, 10) == []
    again = await queue.read_own_pending("j1", ["acme"], 10)
    assert [d.entry_id for d in again] == [d.entry_id for d in read]
    assert all(d.deliveries == 2 for d in again)
    assert await queue.read_own_pending("j2", ["acme"], 10) == []
    claimed = await queue.claim_stale_results("j2", ["acme"], 0, 10)
    assert {d.entry_id for d in claimed} == {d.entry_id for d in read}
    assert await queue.read_own_pending("j1", ["acme"], 10) == []
    assert (await queue.stats("acme")).results.pending == 2


async def test_a_blocked_read_wakes_up_for_a_new_entry(backend: Backend) -> None:
    queue = backend.queue
    await queue.ensure_groups(["acme"])
    reader = asyncio.create_task(queue.read_tasks("c1", ["acme"], 1, block_ms=2000))
    await asyncio.sleep(0.01)
    [task] = make_tasks(1)
    await queue.enqueue([task])
    got = await asyncio.wait_for(reader, timeout=5)
    # Redis hands the new entry to the blocked reader; fakeredis cannot block, and its
    # adapter polls instead, so the entry may come with the next read.
    got = got or await queue.read_tasks("c1", ["acme"], 1, block_ms=10)
    assert [d.message.id for d in got if d.message] == [task.id]


async def test_stats_of_a_tenant_with_nothing(backend: Backend) -> None:
    stats = await backend.queue.stats("initech")
    assert (stats.tasks.length, stats.tasks.pending, stats.tasks.consumers) == (0, 0, 0)
    assert (stats.delayed, stats.review, stats.dead_lettered, stats.committed) == (0, 0, 0, 0)
