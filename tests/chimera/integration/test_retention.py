"""Retention against a real Redis: each kind trimmed to its policy, nothing still needed lost.

A swarm runs real Workers and a Judge over Redis; then the sweep (the one Workers run, and
``chimera gc``) is applied with a clock far in the future, so that every record is old.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import yaml
from click.testing import CliRunner
from redis.exceptions import RedisError

from chimera.cli.app import cli
from chimera.config.loader import load_swarm
from chimera.lib import redis_audit_trim
from chimera.lib.keys import Keyspace
from chimera.lib.redis_audit import read_chain
from chimera.lib.redis_retention import RedisRetention
from chimera.models.llm import LLMRequest, LLMResponse
from chimera.models.retention import RetentionConfig
from chimera.services.audit import FanoutAuditLogger
from chimera.services.planner import Submission
from chimera.services.retention import RetentionSweep
from tests.chimera.helpers import (
    ECHO_SKILL,
    FakeBackend,
    RecordingSink,
    Running,
    eventually,
    write_swarm,
)
from tests.chimera.stack import Stack
from tests.conftest import REDIS_URL

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
    # The audit trim leaves 30 s for clocks that disagree; one process here.
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
    assert not report.swept
    assert report.total == 0
    await store.release("acme", "other")
    [report] = await sweep(stack, SHORT).sweep()
    assert report.swept
    # A Worker's periodic sweep runs once per period, whichever Worker asks first.
    assert await store.due("acme", 60) is True
    assert await store.due("acme", 60) is False


def test_chimera_gc_dry_run_changes_nothing_and_gc_prints_what_it_removed(
    tmp_path: Path, keyspace: Keyspace
) -> None:
    write_swarm(tmp_path, skills=[{**ECHO_SKILL, "backend": "mock"}])
    path = tmp_path / "swarm.yaml"
    config = yaml.safe_load(path.read_text())
    config["retention"] = {**SHORT, "committed": {"max_count": 0}, "sweep_every": "1h"}
    path.write_text(yaml.safe_dump(config))
    swarm = load_swarm(path)

    async def prepare() -> dict[str, bytes | None]:
        client = aioredis.from_url(REDIS_URL, decode_responses=True)
        try:
            await client.ping()
        except (RedisError, OSError) as exc:
            pytest.skip(f"no Redis at {REDIS_URL}: {exc}")
        stack = Stack(swarm, client, keyspace, {"mock": Boom()})
        subs = [Submission("acme", "echo", {"text": t}, "s") for t in ("a", "b", "c")]
        await settle(stack, subs, outcomes=3)
        state = await snapshot(client, keyspace)
        await client.aclose()
        return state

    async def current() -> dict[str, bytes | None]:
        client = aioredis.from_url(REDIS_URL, decode_responses=True)
        state = await snapshot(client, keyspace)
        await client.aclose()
        return state

    async def cleanup() -> None:
        client = aioredis.from_url(REDIS_URL, decode_responses=True)
        keys = [k async for k in client.scan_iter(match=f"{keyspace.prefix}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()

    before = asyncio.run(prepare())
    try:
        runner = CliRunner()
        args = [str(path), "--redis-url", REDIS_URL, "--prefix", keyspace.prefix, "--json"]
        dry = runner.invoke(cli, ["gc", *args, "--tenant", "acme", "--dry-run"])
        assert dry.exit_code == 0, dry.output
        [row] = json.loads(dry.output)["tenants"]
        assert row["dry_run"] is True
        assert row["removed"]["committed"] == 3
        assert asyncio.run(current()) == before
        done = runner.invoke(cli, ["gc", *args])
        assert done.exit_code == 0, done.output
        rows = {r["tenant"]: r for r in json.loads(done.output)["tenants"]}
        assert rows["acme"]["removed"] == row["removed"]
        assert rows["globex"]["removed"]["committed"] == 0
        assert asyncio.run(current()) != before
        again = runner.invoke(cli, ["gc", *args, "--tenant", "acme", "--dry-run"])
        assert json.loads(again.output)["tenants"][0]["removed"]["committed"] == 0
    finally:
        asyncio.run(cleanup())


async def test_sweeping_while_workers_run_loses_nothing(
    tmp_path: Path, real_redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    # Every first attempt fails, so retries (the delayed set, RETRY_TASK) run alongside.
    backend = FakeBackend(fail_times=1, error=RuntimeError("flaky"))
    recorder = RecordingSink()
    swarm = write_swarm(tmp_path)
    stack = Stack(swarm, real_redis, keyspace, {"fake": backend})
    stack.sinks.append(recorder)
    stack.audit = FanoutAuditLogger(stack.sinks)
    tiny = {kind: {"max_age": "10ms"} for kind in SHORT}
    policy = RetentionConfig.model_validate({**tiny, "sweep_every": "20ms"})

    def retention(owner: str) -> RetentionSweep:
        return RetentionSweep(RedisRetention(real_redis, keyspace), policy, ["acme"], owner)

    workers = [stack.worker(name, lease_ms=500, retention=retention(name)) for name in ("w1", "w2")]
    n = 200
    async with Running(*workers, stack.judge("j1")):
        for i in range(0, n, 20):
            batch = [
                Submission("acme", "echo", {"text": f"t{j}"}, f"s{i}") for j in range(i, i + 20)
            ]
            await stack.planner().submit(batch)
            await asyncio.sleep(0.02)

        async def all_committed() -> bool:
            return len(_committed(recorder)) >= n

        await eventually(all_committed, within=60)
        # Let a sweep or two run after the last commit.
        for worker in workers:
            await worker.housekeeping.retain()
    committed = _committed(recorder)
    assert len(committed) == n
    assert len(set(committed)) == n  # each task committed exactly once
    assert not [e for e in recorder.events if e.type.value == "dead_lettered"]
    check = await read_chain(real_redis, keyspace, "acme")
    assert check.ok, check.problem
    assert check.start_seq > 0  # the trail was trimmed while the work ran
    keys = stack.keys()
    assert await real_redis.hlen(keys.ledger) == 0
    assert await real_redis.xlen(keys.tasks) == 0
    assert await real_redis.hlen(keys.committed) < n  # trimmed along the way


def _committed(recorder: RecordingSink) -> list[str | None]:
    return [e.task_id for e in recorder.events if e.type.value == "committed"]


async def test_only_entries_every_group_acknowledged_are_trimmed(
    real_redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    store = RedisRetention(real_redis, keyspace)
    stream = keyspace.tenant("acme").tasks
    await real_redis.xgroup_create(stream, "workers", id="0", mkstream=True)
    ids = [await real_redis.xadd(stream, {"n": str(n)}) for n in range(4)]
    # The group read three and acknowledged only the first (without deleting it); the
    # fourth was never delivered.
    await real_redis.xreadgroup("workers", "c1", {stream: ">"}, count=3)
    await real_redis.xack(stream, "workers", ids[0])
    assert await store.trim_acked("acme", dry_run=True) == 1
    assert await store.trim_acked("acme", dry_run=False) == 1
    assert [e[0] for e in await real_redis.xrange(stream)] == ids[1:]
    # Acknowledged by this group, but a second group has not read anything yet: kept.
    await real_redis.xack(stream, "workers", ids[1])
    await real_redis.xgroup_create(stream, "auditors", id="0")
    assert await store.trim_acked("acme", dry_run=False) == 0
    assert [e[0] for e in await real_redis.xrange(stream)] == ids[1:]
