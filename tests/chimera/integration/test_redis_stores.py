"""Review, dead-letter, result and session stores and the audit chain, on fakeredis and Redis.

Items are put in place through the real adapters (``RedisQueue`` and ``RedisUnitOfWork``),
so these tests also check that the stores read what the Worker and Judge write.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import cast

import pytest
import redis.asyncio as aioredis

from chimera.lib import redis_audit
from chimera.lib.fields import BODY
from chimera.lib.keys import Keyspace
from chimera.lib.redis_audit import RedisAuditSink, read_chain
from chimera.lib.redis_queue import RedisQueue
from chimera.lib.redis_sessions import RedisSessionStore
from chimera.lib.redis_stores import RedisDeadLetterStore, RedisResultStore, RedisReviewStore
from chimera.lib.redis_uow import RedisUnitOfWork
from chimera.models.audit import GENESIS_HASH, AuditEvent, AuditEventType, AuditRecord
from chimera.models.decision import Decision, Verdict
from chimera.models.result import Result, ResultStatus
from chimera.models.session import SessionState
from chimera.models.task import Task
from chimera.models.types import utc_now
from chimera.ports.judge import CommitOutcome, Judged
from chimera.ports.queue import DeadLetter, Delivery
from chimera.ports.stores import ReviewItem


def make_task(i: int = 0, tenant: str = "acme", session: str = "s1") -> Task:
    return Task(tenant=tenant, session=session, skill="summarise", input={"i": i})


def result_for(task: Task, confidence: float = 0.6) -> Result:
    now = utc_now()
    return Result(
        task_id=task.id,
        tenant=task.tenant,
        session=task.session,
        skill=task.skill,
        attempt=task.attempt,
        status=ResultStatus.SUCCEEDED,
        output={"summary": f"summary of {task.input['i']}"},
        confidence=confidence,
        worker="w1",
        trace_id=task.trace_id,
        started_at=now,
        finished_at=now + timedelta(milliseconds=5),
    )


def decision_for(result: Result, verdict: Verdict) -> Decision:
    return Decision(
        task_id=result.task_id,
        tenant=result.tenant,
        session=result.session,
        skill=result.skill,
        verdict=verdict,
        reason=f"test says {verdict.value}",
        policy="threshold",
        confidence=result.confidence,
    )


class Pipeline:
    """Drives tasks through the real queue and unit of work: enqueue, work, judge."""

    def __init__(self, client: aioredis.Redis, keyspace: Keyspace) -> None:
        self.client = client
        self.keys = keyspace
        self.queue = RedisQueue(client, keyspace)
        self.uow = RedisUnitOfWork(client, keyspace)

    async def read(self, tasks: list[Task]) -> list[Delivery[Task]]:
        await self.queue.enqueue(tasks)
        tenants = sorted({t.tenant for t in tasks})
        got = await self.queue.read_tasks("w1", tenants, count=len(tasks), block_ms=10)
        assert len(got) == len(tasks)
        return got

    async def judge(self, tasks: list[Task], verdict: Verdict) -> list[tuple[Task, Result]]:
        """Run ``tasks`` to a Result each and apply ``verdict`` to all of them."""
        deliveries = await self.read(tasks)
        by_id = {t.id: t for t in tasks}
        done = [(d, result_for(by_id[d.message.id])) for d in deliveries if d.message]
        await self.queue.complete(done)
        tenants = sorted({t.tenant for t in tasks})
        results = await self.queue.read_results("j1", tenants, count=len(tasks), block_ms=10)
        judged = []
        for delivery in results:
            assert delivery.message is not None
            task = by_id[delivery.message.task_id]
            decision = decision_for(delivery.message, verdict)
            judged.append(Judged(delivery=delivery, decision=decision, task=task))
        outcomes = await self.uow.apply(judged)
        expected = {
            Verdict.APPROVE: CommitOutcome.COMMITTED,
            Verdict.REVIEW: CommitOutcome.REVIEW,
            Verdict.DENY: CommitOutcome.DENIED,
        }[verdict]
        assert outcomes == [expected] * len(tasks)
        pairs = []
        for item in judged:
            result = item.delivery.message
            assert result is not None
            pairs.append((by_id[result.task_id], result))
        return pairs

    async def session_counters(self, tenant: str, session: str) -> dict[str, str]:
        key = self.keys.tenant(tenant).session(session)
        return cast("dict[str, str]", await self.client.hgetall(key))


@pytest.fixture
def pipeline(redis_client: aioredis.Redis, keyspace: Keyspace) -> Pipeline:
    return Pipeline(redis_client, keyspace)


# --- review ----------------------------------------------------------------------------


async def test_review_lists_parked_items_oldest_task_first(
    pipeline: Pipeline, redis_client: aioredis.Redis, keyspace: Keyspace
) -> None:
    tasks = [make_task(i) for i in range(3)]
    parked = await pipeline.judge(list(reversed(tasks)), Verdict.REVIEW)
    store = RedisReviewStore(redis_client, keyspace)
    items = await store.list("acme")
    assert [item.task for item in items] == tasks
    results = {task.id: result for task, result in parked}
    for item in items:
        assert item.result == results[item.task.id]
        assert item.decision.verdict is Verdict.REVIEW
        assert item.decision.task_id == item.task.id
    assert await store.list("globex") == []


async def test_review_approve_commits_once(
    pipeline: Pipeline, redis_client: aioredis.Redis, keyspace: Keyspace
) -> None:
    [(task, result)] = await pipeline.judge([make_task()], Verdict.REVIEW)
    store = RedisReviewStore(redis_client, keyspace)
    [item] = await store.list("acme")
    assert await store.decide("acme", item, approve=True) == "committed"
    keys = keyspace.tenant("acme")
    assert await redis_client.hget(keys.settled, task.id) == "committed"
    assert await redis_client.hexists(keys.ledger, task.id) == 0
    assert await store.list("acme") == []
    assert await RedisResultStore(redis_client, keyspace).committed("acme") == [result]
    counters = await pipeline.session_counters("acme", "s1")
    assert (counters["review"], counters["committed"]) == ("0", "1")
    # A second human acting on the same (stale) item changes nothing.
    assert await store.decide("acme", item, approve=True) == "missing"
    assert await store.decide("acme", item, approve=False) == "missing"
    counters = await pipeline.session_counters("acme", "s1")
    assert (counters["review"], counters["committed"]) == ("0", "1")
    assert "denied" not in counters


async def test_review_reject_denies_without_committing(
    pipeline: Pipeline, redis_client: aioredis.Redis, keyspace: Keyspace
) -> None:
    [(task, _)] = await pipeline.judge([make_task()], Verdict.REVIEW)
    store = RedisReviewStore(redis_client, keyspace)
    [item] = await store.list("acme")
    assert await store.decide("acme", item, approve=False) == "denied"
    keys = keyspace.tenant("acme")
    assert await redis_client.hget(keys.settled, task.id) == "denied"
    assert await RedisResultStore(redis_client, keyspace).committed("acme") == []
    counters = await pipeline.session_counters("acme", "s1")
    assert (counters["review"], counters["denied"]) == ("0", "1")


async def test_review_approve_of_an_already_committed_task_is_a_duplicate(
    pipeline: Pipeline, redis_client: aioredis.Redis, keyspace: Keyspace
) -> None:
    [(task, _)] = await pipeline.judge([make_task()], Verdict.REVIEW)
    store = RedisReviewStore(redis_client, keyspace)
    [item] = await store.list("acme")
    # Another path already committed a Result under this task id (no adapter can get here
    # while the item is parked, so the key is written by hand).
    first = result_for(task, confidence=0.99)
    await redis_client.hset(keyspace.tenant("acme").committed, task.id, first.model_dump_json())
    assert await store.decide("acme", item, approve=True) == "duplicate"
    assert await RedisResultStore(redis_client, keyspace).committed("acme") == [first]
    assert await store.list("acme") == []


# --- dead letters ----------------------------------------------------------------------


async def test_dead_letters_list_what_the_queue_dead_lettered(
    pipeline: Pipeline, redis_client: aioredis.Redis, keyspace: Keyspace
) -> None:
    tasks = [make_task(i) for i in range(2)]
    deliveries = await pipeline.read(tasks)
    await pipeline.queue.dead_letter(
        [
            (d, DeadLetter(reason="poison", attempts=3, last_error=f"boom {d.entry_id}"))
            for d in deliveries
        ]
    )
    entries = await RedisDeadLetterStore(redis_client, keyspace).list("acme")
    assert [e.task for e in entries] == [d.message for d in deliveries]
    for entry, delivery in zip(entries, deliveries, strict=True):
        assert entry.tenant == "acme"
        assert entry.reason == "poison"
        assert entry.attempts == 3
        assert entry.last_error == f"boom {delivery.entry_id}"
        assert entry.raw["entry_id"] == delivery.entry_id
        assert entry.raw["deliveries"] == 1
    assert len({e.entry_id for e in entries}) == 2
    assert await RedisDeadLetterStore(redis_client, keyspace).list("globex") == []
    counters = await pipeline.session_counters("acme", "s1")
    assert counters["dead_lettered"] == "2"


async def test_dead_letter_replay_requeues_once(
    pipeline: Pipeline, redis_client: aioredis.Redis, keyspace: Keyspace
) -> None:
    tasks = [make_task(i) for i in range(2)]
    deliveries = await pipeline.read(tasks)
    await pipeline.queue.dead_letter(
        [(d, DeadLetter(reason="max attempts", attempts=3)) for d in deliveries]
    )
    store = RedisDeadLetterStore(redis_client, keyspace)
    first, second = await store.list("acme")
    assert first.task is not None
    fresh = first.task.model_copy(update={"attempt": 1})
    keys = keyspace.tenant("acme")
    assert await redis_client.xlen(keys.tasks) == 0
    assert await store.replay("acme", first, fresh) is True
    # The task is back in the stream and the ledger, no longer settled, counted once less.
    again = await pipeline.queue.read_tasks("w2", ["acme"], count=10, block_ms=10)
    assert [d.message for d in again] == [fresh]
    assert await redis_client.hget(keys.ledger, fresh.id) == fresh.model_dump_json()
    assert await redis_client.hexists(keys.settled, fresh.id) == 0
    assert await redis_client.hget(keys.settled, second.task.id) == "dead_lettered"  # type: ignore[union-attr]
    assert (await pipeline.session_counters("acme", "s1"))["dead_lettered"] == "1"
    assert [e.entry_id for e in await store.list("acme")] == [second.entry_id]
    # Replaying the same entry again (another operator) does nothing.
    assert await store.replay("acme", first, fresh) is False
    assert await redis_client.xlen(keys.tasks) == 1
    assert (await pipeline.session_counters("acme", "s1"))["dead_lettered"] == "1"


async def test_dead_letter_of_an_undecodable_entry_keeps_its_raw_body(
    pipeline: Pipeline, redis_client: aioredis.Redis, keyspace: Keyspace
) -> None:
    queue = pipeline.queue
    await queue.ensure_groups(["acme"])
    # A poison entry can only come from outside chimera, so it is written by hand.
    await redis_client.xadd(keyspace.tenant("acme").tasks, {BODY: "not json"})
    [delivery] = await queue.read_tasks("w1", ["acme"], count=1, block_ms=10)
    assert delivery.message is None
    await queue.dead_letter([(delivery, DeadLetter(reason="undecodable", attempts=1))])
    [entry] = await RedisDeadLetterStore(redis_client, keyspace).list("acme")
    assert entry.task is None
    assert entry.reason == "undecodable"
    assert entry.last_error is None
    assert entry.raw["raw"] == "not json"


async def test_dead_letter_whose_task_no_longer_validates_lists_without_a_task(
    redis_client: aioredis.Redis, keyspace: Keyspace
) -> None:
    # E.g. written by an older chimera whose Task had other fields.
    body = {"task": {"id": "old", "legacy": True}, "reason": "old", "attempts": "2"}
    await redis_client.xadd(keyspace.tenant("acme").dlq, {BODY: json.dumps(body)})
    [entry] = await RedisDeadLetterStore(redis_client, keyspace).list("acme")
    assert entry.task is None
    assert (entry.reason, entry.attempts) == ("old", 2)
    assert entry.raw == body


# --- committed results -----------------------------------------------------------------


async def test_committed_results_in_task_id_order(
    pipeline: Pipeline, redis_client: aioredis.Redis, keyspace: Keyspace
) -> None:
    tasks = [make_task(i) for i in range(4)]
    committed = await pipeline.judge([tasks[2], tasks[0], tasks[3], tasks[1]], Verdict.APPROVE)
    await pipeline.judge([make_task(9, tenant="globex")], Verdict.APPROVE)
    await pipeline.judge([make_task(10)], Verdict.DENY)
    store = RedisResultStore(redis_client, keyspace)
    got = await store.committed("acme")
    assert got == [r for _, r in sorted(committed, key=lambda pair: pair[0].id)]
    assert [r.task_id for r in got] == [t.id for t in tasks]
    assert [r.tenant for r in await store.committed("globex")] == ["globex"]


async def test_committed_is_empty_for_a_tenant_with_nothing(
    redis_client: aioredis.Redis, keyspace: Keyspace
) -> None:
    assert await RedisResultStore(redis_client, keyspace).committed("acme") == []


# --- sessions --------------------------------------------------------------------------


async def test_session_open_is_idempotent_and_keeps_a_later_state(
    redis_client: aioredis.Redis, keyspace: Keyspace
) -> None:
    store = RedisSessionStore(redis_client, keyspace)
    assert await store.get("acme", "s1") is None
    await store.open("acme", "s1")
    info = await store.get("acme", "s1")
    assert info is not None
    assert (info.tenant, info.session, info.state) == ("acme", "s1", SessionState.OPEN)
    assert info.submitted == 0
    created = await redis_client.hget(keyspace.tenant("acme").session("s1"), "created_at")
    await store.set_state("acme", "s1", SessionState.RUNNING)
    await store.open("acme", "s1")
    info = await store.get("acme", "s1")
    assert info is not None
    assert info.state is SessionState.RUNNING
    again = await redis_client.hget(keyspace.tenant("acme").session("s1"), "created_at")
    assert again == created


async def test_session_completed_is_never_stored(
    redis_client: aioredis.Redis, keyspace: Keyspace
) -> None:
    store = RedisSessionStore(redis_client, keyspace)
    await store.open("acme", "s1")
    with pytest.raises(ValueError, match="derived"):
        await store.set_state("acme", "s1", SessionState.COMPLETED)
    info = await store.get("acme", "s1")
    assert info is not None
    assert info.stored_state is SessionState.OPEN


async def test_session_counters_come_from_the_queue_and_unit_of_work(
    pipeline: Pipeline, redis_client: aioredis.Redis, keyspace: Keyspace
) -> None:
    store = RedisSessionStore(redis_client, keyspace)
    await store.open("acme", "s1")
    await store.set_state("acme", "s1", SessionState.RUNNING)
    await pipeline.judge([make_task(0), make_task(1)], Verdict.APPROVE)
    await pipeline.judge([make_task(2)], Verdict.DENY)
    await pipeline.read([make_task(3)])  # submitted, not settled yet
    info = await store.get("acme", "s1")
    assert info is not None
    assert (info.submitted, info.committed, info.denied, info.settled) == (4, 2, 1, 3)
    assert info.state is SessionState.RUNNING
    await pipeline.queue.dead_letter(
        [
            (d, DeadLetter(reason="x", attempts=1))
            for d in await pipeline.queue.claim_stale("w9", ["acme"], 0, 10)
        ]
    )
    info = await store.get("acme", "s1")
    assert info is not None
    assert (info.dead_lettered, info.settled) == (1, 4)
    assert info.stored_state is SessionState.RUNNING
    assert info.state is SessionState.COMPLETED


async def test_session_without_a_stored_state_reads_as_running(
    pipeline: Pipeline, redis_client: aioredis.Redis, keyspace: Keyspace
) -> None:
    # The queue counts tasks into a session nobody opened.
    await pipeline.read([make_task(0, session="adhoc")])
    info = await RedisSessionStore(redis_client, keyspace).get("acme", "adhoc")
    assert info is not None
    assert (info.stored_state, info.submitted) == (SessionState.RUNNING, 1)


async def test_session_list_is_per_tenant_and_sorted(
    pipeline: Pipeline, redis_client: aioredis.Redis, keyspace: Keyspace
) -> None:
    store = RedisSessionStore(redis_client, keyspace)
    for session in ("s3", "s1", "s2"):
        await store.open("acme", session)
    await store.open("globex", "g1")
    await pipeline.read([make_task(0, session="s2"), make_task(1, session="s2")])
    listed = await store.list("acme")
    assert [i.session for i in listed] == ["s1", "s2", "s3"]
    assert {i.tenant for i in listed} == {"acme"}
    assert [i.submitted for i in listed] == [0, 2, 0]
    assert [i.session for i in await store.list("globex")] == ["g1"]
    assert await store.list("initech") == []


async def test_halted_reports_only_halted_pairs(
    redis_client: aioredis.Redis, keyspace: Keyspace
) -> None:
    store = RedisSessionStore(redis_client, keyspace)
    for tenant, session in [("acme", "s1"), ("acme", "s2"), ("globex", "s1")]:
        await store.open(tenant, session)
    await store.set_state("acme", "s2", SessionState.HALTED)
    await store.set_state("globex", "s1", SessionState.HALTED)
    pairs = [("acme", "s1"), ("acme", "s2"), ("acme", "s2"), ("globex", "s1"), ("acme", "nope")]
    assert await store.halted(pairs) == {("acme", "s2"), ("globex", "s1")}
    assert await store.halted([]) == set()
    await store.set_state("acme", "s2", SessionState.RUNNING)
    assert await store.halted(pairs) == {("globex", "s1")}
    info = await store.get("acme", "s2")
    assert info is not None
    assert info.state is SessionState.RUNNING


# --- audit -----------------------------------------------------------------------------


def event(tenant: str, n: int, actor: str = "chimera") -> AuditEvent:
    return AuditEvent(
        type=AuditEventType.SUBMITTED, tenant=tenant, task_id=f"t{n}", actor=actor, data={"n": n}
    )


async def test_audit_chain_per_tenant_verifies(
    redis_client: aioredis.Redis, keyspace: Keyspace
) -> None:
    sink = RedisAuditSink(redis_client, keyspace)
    assert sink.name == "redis"
    await sink.write([event("acme", 1), event("globex", 1), event("acme", 2)])
    await sink.write([event("acme", 3)])
    acme = await read_chain(redis_client, keyspace, "acme")
    assert acme.ok
    assert acme.broken_at is None
    assert acme.problem is None
    assert [r.seq for r in acme.records] == [1, 2, 3]
    assert [r.event.data["n"] for r in acme.records] == [1, 2, 3]
    assert acme.records[0].prev == GENESIS_HASH
    assert [r.prev for r in acme.records[1:]] == [r.hash for r in acme.records[:-1]]
    globex = await read_chain(redis_client, keyspace, "globex")
    assert globex.ok
    assert [r.event.tenant for r in globex.records] == ["globex"]
    head = await redis_client.hgetall(keyspace.tenant("acme").audit_head)
    assert head == {"seq": "3", "hash": acme.records[-1].hash}


async def test_audit_chain_of_an_empty_tenant_is_ok(
    redis_client: aioredis.Redis, keyspace: Keyspace
) -> None:
    check = await read_chain(redis_client, keyspace, "acme")
    assert check.ok
    assert check.records == []


async def test_concurrent_writers_form_one_valid_chain(
    redis_client: aioredis.Redis, keyspace: Keyspace
) -> None:
    sinks = [RedisAuditSink(redis_client, keyspace), RedisAuditSink(redis_client, keyspace)]
    writes = [
        sinks[i % 2].write(
            [event("acme", 10 * i + j, actor=f"sink{i % 2}") for j in range(1 + i % 3)]
        )
        for i in range(40)
    ]
    await asyncio.gather(*writes)
    check = await read_chain(redis_client, keyspace, "acme")
    expected = sorted(10 * i + j for i in range(40) for j in range(1 + i % 3))
    assert check.ok, check.problem
    assert [r.seq for r in check.records] == list(range(1, len(expected) + 1))
    assert sorted(cast(int, r.event.data["n"]) for r in check.records) == expected
    # Each write's events stay together and in order.
    numbers = [cast(int, r.event.data["n"]) for r in check.records]
    for i in range(40):
        batch = [10 * i + j for j in range(1 + i % 3)]
        start = numbers.index(batch[0])
        assert numbers[start : start + len(batch)] == batch


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


async def rewrite_stream(
    client: aioredis.Redis, key: str, change: dict[int, dict[str, str] | None]
) -> None:
    """Rewrite the audit stream in order, replacing (or dropping, with None) entries by index."""
    entries = cast("list[tuple[str, dict[str, str]]]", await client.xrange(key))
    await client.delete(key)
    for index, (_, fields) in enumerate(entries):
        if index in change:
            replacement = change[index]
            if replacement is None:
                continue
            fields = replacement
        await client.xadd(key, fields)  # type: ignore[arg-type]


async def write_chain(client: aioredis.Redis, keyspace: Keyspace, n: int) -> list[AuditRecord]:
    await RedisAuditSink(client, keyspace).write([event("acme", i) for i in range(1, n + 1)])
    check = await read_chain(client, keyspace, "acme")
    assert check.ok
    return check.records


async def test_altered_record_is_reported_at_its_seq(
    redis_client: aioredis.Redis, keyspace: Keyspace
) -> None:
    records = await write_chain(redis_client, keyspace, 5)
    target = records[2]
    forged = target.event.model_copy(update={"actor": "mallory"})
    fields = {
        "seq": str(target.seq),
        "prev": target.prev,
        "hash": target.hash,
        "event": forged.model_dump_json(),
    }
    await rewrite_stream(redis_client, keyspace.tenant("acme").audit, {2: fields})
    check = await read_chain(redis_client, keyspace, "acme")
    assert not check.ok
    assert check.broken_at == 3
    assert check.problem is not None
    assert "(seq 3): hash does not match" in check.problem
    assert len(check.records) == 5
    assert check.records[2].event.actor == "mallory"
    unverified = await read_chain(redis_client, keyspace, "acme", verify=False)
    assert unverified.ok
    assert len(unverified.records) == 5


async def test_removed_record_is_reported_at_the_missing_seq(
    redis_client: aioredis.Redis, keyspace: Keyspace
) -> None:
    await write_chain(redis_client, keyspace, 5)
    await rewrite_stream(redis_client, keyspace.tenant("acme").audit, {1: None})
    check = await read_chain(redis_client, keyspace, "acme")
    assert check.broken_at == 2
    assert check.problem is not None
    assert "expected seq 2, found 3" in check.problem
    assert [r.seq for r in check.records] == [1, 3, 4, 5]


async def test_rehashed_forgery_still_breaks_the_next_link(
    redis_client: aioredis.Redis, keyspace: Keyspace
) -> None:
    records = await write_chain(redis_client, keyspace, 4)
    target = records[1]
    forged = target.event.model_copy(update={"data": {"n": 99}})
    body = forged.model_dump_json()
    fields = {
        "seq": str(target.seq),
        "prev": target.prev,
        "hash": AuditRecord.digest(target.prev, target.seq, body),
        "event": body,
    }
    await rewrite_stream(redis_client, keyspace.tenant("acme").audit, {1: fields})
    check = await read_chain(redis_client, keyspace, "acme")
    assert check.broken_at == 3
    assert check.problem is not None
    assert "(seq 3)" in check.problem


async def test_malformed_record_is_reported(
    redis_client: aioredis.Redis, keyspace: Keyspace
) -> None:
    records = await write_chain(redis_client, keyspace, 3)
    broken = {"seq": str(records[1].seq), "prev": records[1].prev, "event": "{}"}
    await rewrite_stream(redis_client, keyspace.tenant("acme").audit, {1: broken})
    check = await read_chain(redis_client, keyspace, "acme")
    assert check.broken_at == 2
    assert check.problem is not None
    assert "is malformed" in check.problem
    assert [r.seq for r in check.records] == [1, 3]


async def test_review_item_fields_round_trip_through_the_store(
    pipeline: Pipeline, redis_client: aioredis.Redis, keyspace: Keyspace
) -> None:
    [(task, result)] = await pipeline.judge([make_task(7, session="s7")], Verdict.REVIEW)
    [item] = await RedisReviewStore(redis_client, keyspace).list("acme")
    assert isinstance(item, ReviewItem)
    assert item.task == task
    assert item.result == result
    assert item.decision.reason == "test says review"
    assert item.decision.session == "s7"
