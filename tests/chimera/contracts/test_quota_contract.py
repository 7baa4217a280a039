"""Contract of reading within quotas: fair shares, tasks in flight, the rate, usage counting."""

from __future__ import annotations

from datetime import UTC, datetime

from chimera.lib.fields import BODY
from chimera.models.result import Result, Usage
from chimera.ports.queue import TenantLimits
from tests.chimera.contracts.backends import Backend
from tests.chimera.contracts.flow import make_task, result_for


async def fill(backend: Backend, tenant: str, n: int, session: str = "s1") -> None:
    await backend.queue.enqueue([make_task(i, tenant=tenant, session=session) for i in range(n)])


async def test_each_tenant_gets_its_share_without_limits(backend: Backend) -> None:
    await fill(backend, "acme", 50)
    await fill(backend, "globex", 3)
    read = await backend.queue.read_within("w1", {"acme": 5, "globex": 5}, {}, 0)
    assert read.got == {"acme": 5, "globex": 3}
    assert sorted({d.tenant for d in read.deliveries}) == ["acme", "globex"]
    assert (read.limited, read.changes) == ({}, [])
    assert await backend.probe.hash("acme", "quota") == {}  # no limits: never touched


async def test_tasks_in_flight_are_capped_for_every_reader(backend: Backend) -> None:
    queue = backend.queue
    await fill(backend, "acme", 10)
    limits = {"acme": TenantLimits(max_in_flight=4)}
    first = await queue.read_within("w1", {"acme": 3}, limits, 0)
    assert first.got == {"acme": 3}
    assert first.limited == {}
    second = await queue.read_within("w2", {"acme": 3}, limits, 0)
    assert second.got == {"acme": 1}  # another Worker: only one more fits
    assert second.limited == {"acme": "in_flight"}
    assert [(c.tenant, c.throttled, c.reason) for c in second.changes] == [
        ("acme", True, "in_flight")
    ]
    third = await queue.read_within("w3", {"acme": 3}, limits, 0)
    assert (third.got, third.changes) == ({"acme": 0}, [])  # still held: reported once
    assert (await queue.stats("acme")).throttled == "in_flight"
    done = [(d, result_for(d.message)) for d in first.deliveries + second.deliveries]
    await queue.complete(done)
    again = await queue.read_within("w1", {"acme": 10}, limits, 0)
    assert again.got == {"acme": 4}
    await queue.complete([(d, result_for(d.message)) for d in again.deliveries])
    last = await queue.read_within("w1", {"acme": 10}, limits, 0)
    assert last.got == {"acme": 2}
    assert [(c.throttled, c.reason) for c in last.changes] == [(False, "in_flight")]
    assert (await queue.stats("acme")).throttled is None


async def test_the_rate_is_a_token_bucket_shared_by_every_reader(backend: Backend) -> None:
    queue = backend.queue
    await fill(backend, "acme", 10)
    await fill(backend, "globex", 10)
    slow = {"acme": TenantLimits(rate_per_s=0.001, burst=3)}
    first = await queue.read_within("w1", {"acme": 2, "globex": 2}, slow, 0)
    assert first.got == {"acme": 2, "globex": 2}
    second = await queue.read_within("w2", {"acme": 2, "globex": 2}, slow, 0)
    assert second.got == {"acme": 1, "globex": 2}  # the burst is spent; globex is not slowed
    assert second.limited == {"acme": "rate"}
    assert [c.throttled for c in second.changes] == [True]
    nothing = await queue.read_within("w1", {"acme": 5}, slow, 10)
    assert nothing.got.get("acme", 0) == 0
    assert (await queue.stats("acme")).throttled == "rate"


async def test_a_read_with_nothing_waiting_may_block_and_finds_nothing(backend: Backend) -> None:
    read = await backend.queue.read_within("w1", {"acme": 5}, {}, 20)
    assert read.deliveries == []
    assert await backend.queue.read_within("w1", {}, {}, 20) == type(read)()


async def test_published_results_count_their_tokens_per_day_and_session(
    backend: Backend,
) -> None:
    queue = backend.queue
    tasks = [make_task(0, session="s1"), make_task(1, session="s1"), make_task(2, session="s2")]
    await queue.enqueue(tasks)
    deliveries = await queue.read_tasks("w1", ["acme"], 10, 10)
    today = datetime.now(UTC).replace(microsecond=0)
    done = []
    for delivery in deliveries:
        assert delivery.message is not None
        result = result_for(delivery.message)
        usage = Usage(prompt_tokens=100, completion_tokens=20)
        done.append((delivery, replace_result(result, usage, today)))
    await queue.complete(done)
    day = today.date().isoformat()
    assert await backend.probe.hash("acme", "usage") == {day: "360"}
    assert (await backend.sessions.get("acme", "s1")).tokens == 240
    assert (await backend.sessions.get("acme", "s2")).tokens == 120
    assert (await queue.stats("acme")).tokens_today == 360


def replace_result(result: Result, usage: Usage, when: datetime) -> Result:
    return result.model_copy(update={"usage": usage, "started_at": when, "finished_at": when})


async def test_garbage_read_within_limits_comes_back_undecoded_with_why(
    backend: Backend,
) -> None:
    good = make_task(1, tenant="globex")
    await backend.queue.enqueue([good])
    await backend.queue.ensure_groups(["acme"])
    bad_id = await backend.probe.add_entry("acme", "tasks", {BODY: b"\xff\xfe\x00garbage\xc3"})
    limits = {"acme": TenantLimits(max_in_flight=5, rate_per_s=10, burst=5)}
    read = await backend.queue.read_within("w1", {"acme": 5, "globex": 5}, limits, 0)
    by_tenant = {d.tenant: d for d in read.deliveries}
    assert by_tenant["globex"].message == good  # one entry that is not UTF-8 harms no one
    bad = by_tenant["acme"]
    assert (bad.entry_id, bad.message) == (bad_id, None)
    assert bad.problem is not None
    assert "not UTF-8" in bad.problem
