"""Retention against a real Redis: each kind trimmed to its policy, nothing still needed lost.

A swarm runs real Workers and a Judge over Redis; then the sweep (the one Workers run, and
``chimera gc``) is applied with a clock far in the future, so that every record is old.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from chimera.lib import redis_audit_trim
from chimera.lib.keys import Keyspace
from chimera.lib.redis_audit import read_chain
from chimera.lib.redis_retention import RedisRetention
from chimera.models.llm import LLMRequest, LLMResponse
from chimera.models.retention import RetentionConfig
from chimera.services.planner import Submission
from chimera.services.retention import RetentionSweep
from tests.chimera.helpers import FakeBackend, Running, eventually, write_swarm
from tests.chimera.stack import Stack

pytestmark = pytest.mark.redis

#: Every kind kept for one second: with the clock an hour ahead, all of it is old.
SHORT = {
    "committed": {"max_age": "1s"},
    "settled": {"max_age": "1s"},
    "sessions": {"max_age": "1s"},
    "dead_letters": {"max_age": "1s"},
    "audit": {"max_age": "1s"},
}


class Boom(FakeBackend):
    """Echoes, except that the text ``boom`` always fails (so it is dead-lettered)."""

    async def complete(self, request: LLMRequest) -> LLMResponse:
        if request.input.get("text") == "boom":
            raise RuntimeError("boom")
        return await super().complete(request)


def sweep(stack: Stack, policy: dict[str, Any], ahead_s: float = 3600.0) -> RetentionSweep:
    """The sweep of tenant acme under ``policy``, its clock ``ahead_s`` in the future."""
    return RetentionSweep(
        RedisRetention(stack.client, stack.keyspace),
        RetentionConfig.model_validate(policy),
        ["acme"],
        owner="test-gc",
        clock=lambda: time.time() + ahead_s,
    )


async def snapshot(client: aioredis.Redis, keyspace: Keyspace) -> dict[str, bytes | None]:
    """Every key of the test's prefix, dumped."""
    keys = sorted([k async for k in client.scan_iter(match=f"{keyspace.prefix}:*")])
    return {k: await client.dump(k) for k in keys}


async def settle(stack: Stack, submissions: list[Submission], outcomes: int) -> None:
    """Run a Worker and a Judge until ``outcomes`` tasks have settled or wait for review."""
    await stack.planner().submit(submissions)
    keys = stack.keys()

    async def done() -> bool:
        async with stack.client.pipeline() as pipe:
            pipe.hlen(keys.settled)
            pipe.hlen(keys.review)
            settled, review = await pipe.execute()
        return bool(settled + review >= outcomes)

    async with Running(stack.worker("w1", lease_ms=500), stack.judge("j1")):
        await eventually(done, within=20)


@pytest.fixture(autouse=True)
def no_clock_skew(monkeypatch: pytest.MonkeyPatch) -> None:
    # The audit trim leaves five minutes for clocks that disagree; one process here.
    monkeypatch.setattr(redis_audit_trim, "CLOCK_SKEW_S", 0.0)


async def test_every_kind_is_trimmed_and_what_is_still_needed_stays(
    tmp_path: Path, real_redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    stack = Stack(write_swarm(tmp_path), real_redis, keyspace, {"fake": Boom()})
    keys = stack.keys()
    done = [Submission("acme", "echo", {"text": f"ok{i}"}, session="done") for i in range(4)]
    done.append(Submission("acme", "echo", {"text": "boom"}, session="done"))
    await settle(stack, done, outcomes=5)
    await asyncio.sleep(0.01)  # the live work below begins after every record above
    live = [Submission("acme", "echo", {"text": "unsure", "confidence": 0.6}, session="live")]
    await settle(stack, live, outcomes=6)
    # In flight: one task read by a Worker that never acks it, one nobody read yet.
    [held] = await stack.planner().submit([Submission("acme", "echo", {"text": "held"}, "live")])
    assert [d.message.id for d in await stack.queue.read_tasks("gone", ["acme"], 1, 1) if d.message]
    [waiting] = await stack.planner().submit([Submission("acme", "echo", {"text": "w"}, "live")])
    assert await real_redis.hlen(keys.committed) == 4
    assert await real_redis.xlen(keys.dlq) == 1
    audit_before = await read_chain(real_redis, keyspace, "acme")

    [report] = await sweep(stack, SHORT).sweep()

    assert report.removed["committed"] == 4
    assert report.removed["settled"] == 5  # four committed, one dead-lettered
    assert report.removed["sessions"] == 1  # "done"; "live" has tasks under way
    assert report.removed["dead_letters"] == 1
    assert await real_redis.hlen(keys.committed) == 0
    assert await real_redis.hlen(keys.settled) == 0
    assert await real_redis.xlen(keys.dlq) == 0
    assert await real_redis.smembers(keys.sessions) == {"live"}
    assert not await real_redis.exists(keys.session("done"), keys.session_tasks("done"))
    # The pending review, the unacked entry and the undelivered one are all still there.
    assert await real_redis.hlen(keys.review) == 1
    assert await real_redis.hexists(keys.ledger, held.id)
    assert await real_redis.hexists(keys.ledger, waiting.id)
    assert await real_redis.xlen(keys.tasks) == 2
    assert (await stack.queue.stats("acme")).tasks.pending == 1
    # The audit trail lost the records of the finished work, behind a checkpoint, and
    # still verifies; records about live work stay.
    audit_after = await read_chain(real_redis, keyspace, "acme")
    assert audit_after.ok, audit_after.problem
    assert report.removed["audit"] > 0
    assert audit_after.start_seq == report.removed["audit"]
    kept_tasks = {r.event.task_id for r in audit_after.records}
    assert {held.id, waiting.id} <= kept_tasks
    assert len(audit_after.records) == len(audit_before.records) - report.removed["audit"] + 1
    assert audit_after.records[-1].event.type.value == "checkpoint"
    assert await real_redis.hlen(keys.audit_ids) == len(audit_after.records)
    # The work under way finishes normally after the sweep.
    async with Running(stack.worker("w2", lease_ms=200), stack.judge("j2")):
        await eventually(lambda: _hlen(real_redis, keys.committed, 2), within=20)


async def _hlen(client: aioredis.Redis, key: str, n: int) -> bool:
    return bool(await client.hlen(key) >= n)


async def test_count_limits_keep_the_newest(
    tmp_path: Path, real_redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    stack = Stack(write_swarm(tmp_path), real_redis, keyspace, {"fake": FakeBackend()})
    keys = stack.keys()
    for i in range(5):
        await settle(stack, [Submission("acme", "echo", {"text": f"t{i}"}, f"s{i}")], i + 1)
        await asyncio.sleep(0.002)  # distinct milliseconds: the newest are well defined
    newest = sorted(await real_redis.hkeys(keys.committed))[-2:]
    policy = {
        "committed": {"max_count": 2},
        "settled": {"max_count": 3},
        "sessions": {"max_count": 1},
        "audit": {"max_count": 4},
    }
    [report] = await sweep(stack, policy, ahead_s=0).sweep()
    assert sorted(await real_redis.hkeys(keys.committed)) == newest
    assert await real_redis.hlen(keys.settled) == 3
    assert await real_redis.smembers(keys.sessions) == {"s4"}
    check = await read_chain(real_redis, keyspace, "acme")
    assert check.ok, check.problem
    assert len(check.records) == 4 + 1  # the newest four and the checkpoint
    assert report.removed["committed"] == 3


async def test_a_dry_run_changes_nothing_and_counts_what_a_sweep_removes(
    tmp_path: Path, real_redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    stack = Stack(write_swarm(tmp_path), real_redis, keyspace, {"fake": Boom()})
    subs = [Submission("acme", "echo", {"text": t}, "s") for t in ("a", "b", "boom")]
    await settle(stack, subs, outcomes=3)
    before = await snapshot(real_redis, keyspace)
    [dry] = await sweep(stack, SHORT).sweep(dry_run=True)
    assert await snapshot(real_redis, keyspace) == before
    [real] = await sweep(stack, SHORT).sweep()
    assert dry.removed == real.removed
    assert real.total > 0


async def test_one_process_sweeps_a_tenant_at_a_time(
    tmp_path: Path, real_redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    stack = Stack(write_swarm(tmp_path), real_redis, keyspace, {"fake": FakeBackend()})
    store = RedisRetention(real_redis, keyspace)
    assert await store.acquire("acme", "other", 60)
    [report] = await sweep(stack, SHORT).sweep()
    assert not report.swept and report.total == 0
    await store.release("acme", "other")
    [report] = await sweep(stack, SHORT).sweep()
    assert report.swept
    # A Worker's periodic sweep runs once per period, whichever Worker asks first.
    assert await store.due("acme", 60) is True
    assert await store.due("acme", 60) is False
