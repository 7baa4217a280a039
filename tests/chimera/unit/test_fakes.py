"""What the in-memory fakes add to the port contracts: a hand-moved clock, planned faults."""

from __future__ import annotations

import asyncio

import pytest

from chimera.services.audit import AuditFailed
from chimera.testing import (
    FakePorts,
    FakeQueue,
    ManualClock,
    RecordingAuditLogger,
    make_event,
    make_result,
    make_task,
)


async def test_leases_expire_when_the_clock_moves_not_when_time_passes() -> None:
    clock = ManualClock()
    ports = FakePorts(clock)
    await ports.queue.enqueue([make_task()])
    [held] = await ports.queue.read_tasks("w1", ["acme"], 1, 0)
    clock.advance(29)
    assert await ports.queue.claim_stale("w2", ["acme"], 30_000, 10) == []
    assert await ports.queue.renew("w1", [held]) == {held.key}  # renewed at t+29
    clock.advance(29)
    assert await ports.queue.claim_stale("w2", ["acme"], 30_000, 10) == []
    clock.advance(2)
    [taken] = await ports.queue.claim_stale("w2", ["acme"], 30_000, 10)
    assert (taken.entry_id, taken.deliveries) == (held.entry_id, 2)
    assert await ports.queue.renew("w1", [held]) == set()


async def test_consumers_are_pruned_by_the_clock() -> None:
    clock = ManualClock()
    ports = FakePorts(clock)
    await ports.queue.read_tasks("idle", ["acme"], 1, 0)
    assert await ports.queue.prune_consumers(["acme"], idle_ms=1000) == 0
    clock.advance(2)
    assert await ports.queue.prune_consumers(["acme"], idle_ms=1000) == 1


async def test_entry_ids_increase_even_when_the_clock_stands_still() -> None:
    ports = FakePorts(ManualClock())
    ids = await ports.queue.enqueue([make_task() for _ in range(3)])
    assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))
    assert len(set(ids)) == 3


async def test_a_planned_fault_fails_the_call_before_it_changes_anything() -> None:
    ports = FakePorts()
    ports.faults.fail("queue.enqueue", ConnectionError("redis went away"))
    with pytest.raises(ConnectionError, match="went away"):
        await ports.queue.enqueue([make_task()])
    assert ports.tenant("acme").ledger == {}
    assert await ports.queue.enqueue([make_task()])  # once only
    assert ports.faults.raised == ["queue.enqueue"]


async def test_a_fault_for_every_call_until_cleared() -> None:
    ports = FakePorts()
    ports.faults.fail("sessions.halted", TimeoutError(), times=None)
    for _ in range(3):
        with pytest.raises(TimeoutError):
            await ports.sessions.halted([("acme", "s1")])
    ports.faults.clear("sessions.halted")
    assert await ports.sessions.halted([("acme", "s1")]) == set()
    ports.faults.fail("uow.apply", TimeoutError())
    ports.faults.clear()
    assert await ports.uow.apply([]) == []


async def test_a_blocked_read_returns_after_block_ms_when_nothing_comes() -> None:
    queue = FakeQueue()
    assert await asyncio.wait_for(queue.read_tasks("w1", ["acme"], 5, block_ms=20), 5) == []


@pytest.mark.parametrize("tenant", ["bad:tenant", "{acme}", ""])
async def test_ids_that_could_not_be_keys_are_refused_as_by_redis(tenant: str) -> None:
    with pytest.raises(ValueError, match="unsafe tenant id"):
        await FakePorts().queue.stats(tenant)


async def test_unsafe_session_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="unsafe session id"):
        await FakePorts().sessions.open("acme", "a:b")


async def test_the_audit_sink_keeps_a_chain_per_tenant() -> None:
    ports = FakePorts()
    events = [make_event(), make_event(tenant="globex"), make_event()]
    await ports.audit_sink.write(events)
    assert ports.audit_sink.events("acme") == [events[0], events[2]]
    check = await ports.audit_sink.read("acme")
    assert check.ok
    assert [r.seq for r in check.records] == [1, 2]


async def test_the_recording_logger_keeps_events_or_fails_like_the_real_one() -> None:
    logger = RecordingAuditLogger()
    await logger.record([make_event()])
    logger.fail = True
    with pytest.raises(AuditFailed, match="'recording' failed"):
        await logger.record([make_event()])
    assert len(logger.events) == 1


async def test_stored_values_are_what_redis_would_hold() -> None:
    ports = FakePorts()
    task = make_task()
    await ports.queue.enqueue([task])
    [delivery] = await ports.queue.read_tasks("w1", ["acme"], 1, 0)
    await ports.queue.complete([(delivery, make_result(task))])
    data = ports.tenant("acme")
    assert data.ledger == {task.id: task.model_dump_json()}
    assert data.session("s1") == {"submitted": "1"}
    assert len(data.results) == 1
    assert len(data.tasks) == 0
