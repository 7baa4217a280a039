"""Quotas and fairness against a real Redis, with a Worker and a Judge in this process.

``noisy`` floods the swarm; ``quiet`` submits a handful. Whatever ``noisy`` does (ten
thousand tasks, a rate or in-flight limit, a spent token budget), ``quiet``'s tasks are
read at the next read and finish while most of ``noisy``'s backlog still waits.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from click.testing import CliRunner

import chimera
from chimera import Client, TaskState
from chimera.cli.app import cli
from chimera.lib.keys import Keyspace
from tests.chimera.ops_support import skill, write_ops_swarm
from tests.conftest import REDIS_URL

FAST = skill("work", mock={"latency_ms": 2})


def swarm_with(tmp_path: Path, noisy: dict[str, Any] | None = None) -> Path:
    tenants = {
        "noisy": {"skills": ["work"], "quotas": noisy or {}},
        "quiet": {"skills": ["work"]},
    }
    path = write_ops_swarm(tmp_path, tenants=tenants, skills=[FAST])
    body = path.read_text().replace("sinks:\n  - redis", "sinks: []")
    path.write_text(body)
    return path


async def submit(client: Client, tenant: str, n: int, session: str) -> list[chimera.Task]:
    items = [{"tenant": tenant, "skill": "work", "input": {"text": str(i)}} for i in range(n)]
    return await client.submit_many(items, session=session)


async def settled(client: Client, tenant: str, session: str) -> int:
    info = await client.runtime.sessions.get(tenant, session)
    return info.settled if info is not None else 0


async def run_quiet_beside(client: Client, concurrency: int) -> int:
    """Submit ``quiet``'s ten tasks and wait for them; return how much of noisy had settled."""
    quiet = await submit(client, "quiet", 10, "quiet-1")
    async with client.serve(concurrency=concurrency):
        outcomes = await client.wait_all(quiet, timeout_s=120)
        noisy_done = await settled(client, "noisy", "noisy-1")
    assert {o.state for o in outcomes} == {TaskState.COMMITTED}
    return noisy_done


@pytest.fixture
def redis_ready(real_redis: aioredis.Redis) -> None:
    """Skips (or fails under CHIMERA_REQUIRE_REDIS=1) where no Redis answers."""


async def test_ten_thousand_tasks_of_one_tenant_do_not_hold_another_back(
    tmp_path: Path, keyspace: Keyspace, redis_ready: None
) -> None:
    path = swarm_with(tmp_path)
    async with Client.from_swarm(path, REDIS_URL, prefix=keyspace.prefix) as client:
        await submit(client, "noisy", 10_000, "noisy-1")
        noisy_done = await run_quiet_beside(client, concurrency=64)
    # The quiet tenant's ten tasks finished while nine tenths of the flood still waited.
    assert noisy_done < 1_000


async def test_a_tenant_over_its_rate_waits_and_the_other_does_not(
    tmp_path: Path, keyspace: Keyspace, redis_ready: None
) -> None:
    path = swarm_with(tmp_path, {"rate_per_s": 20, "burst": 5, "max_in_flight": 8})
    async with Client.from_swarm(path, REDIS_URL, prefix=keyspace.prefix) as client:
        noisy = await submit(client, "noisy", 200, "noisy-1")
        noisy_done = await run_quiet_beside(client, concurrency=64)
        stats = await client.runtime.queue.stats("noisy")
        assert stats.throttled == "rate"
        assert noisy_done < 100  # 20 a second: most of it is still waiting
        waiting = await client.wait_all(noisy[:3], timeout_s=0)
        assert {o.state for o in waiting} <= {TaskState.PENDING, TaskState.COMMITTED}
        events = (await client.runtime.audit_trail().read("noisy", False)).records
    assert events == []  # no sink in this swarm: throttling was logged, nothing failed
    dead = await client_dead_letters(path, keyspace)
    assert dead == 0


async def client_dead_letters(path: Path, keyspace: Keyspace) -> int:
    async with Client.from_swarm(path, REDIS_URL, prefix=keyspace.prefix) as client:
        return (await client.runtime.queue.stats("noisy")).dead_lettered


async def test_throttling_is_audited_once_per_change(
    tmp_path: Path, keyspace: Keyspace, redis_ready: None
) -> None:
    path = write_ops_swarm(
        tmp_path,
        tenants={"noisy": {"skills": ["work"], "quotas": {"rate_per_s": 50, "burst": 5}}},
        skills=[FAST],
    )
    async with Client.from_swarm(path, REDIS_URL, prefix=keyspace.prefix) as client:
        tasks = await submit(client, "noisy", 40, "noisy-1")
        async with client.serve(concurrency=32):
            outcomes = await client.wait_all(tasks, timeout_s=120)
        assert {o.state for o in outcomes} == {TaskState.COMMITTED}
        trail = await client.runtime.audit_trail().read("noisy", True)
    kinds = [r.event.type.value for r in trail.records if r.event.type.value.startswith("quota")]
    assert kinds[0] == "quota_throttled"
    assert kinds[-1] == "quota_released"
    # Each change once: throttled and released alternate, never twice in a row.
    assert all(a != b for a, b in itertools.pairwise(kinds))
    assert trail.ok


async def test_a_spent_token_budget_refuses_new_tasks_and_lets_running_ones_finish(
    tmp_path: Path, keyspace: Keyspace, redis_ready: None
) -> None:
    path = write_ops_swarm(
        tmp_path,
        tenants={
            "noisy": {"skills": ["work"], "quotas": {"tokens_per_day": 10}},
            "quiet": {"skills": ["work"], "quotas": {"tokens_per_session": 10}},
        },
        skills=[FAST],
    )
    async with Client.from_swarm(path, REDIS_URL, prefix=keyspace.prefix) as client:
        first = await submit(client, "noisy", 5, "day-1")
        quiet = await submit(client, "quiet", 5, "q-1")
        async with client.serve(concurrency=8):
            done = await client.wait_all([*first, *quiet], timeout_s=60)
        assert {o.state for o in done} == {TaskState.COMMITTED}  # submitted before: all ran
        with pytest.raises(chimera.QuotaExceeded, match="used its token budget for today"):
            await submit(client, "noisy", 1, "day-2")
        with pytest.raises(chimera.QuotaExceeded, match="session 'q-1' of tenant 'quiet'"):
            await submit(client, "quiet", 1, "q-1")
        assert len(await submit(client, "quiet", 1, "q-2")) == 1  # a new session may start
        status = await client.runtime.status().tenants("noisy")
        assert status[0].stats is not None
        assert status[0].stats.tokens_today >= 10
        trail = await client.runtime.audit_trail().read("noisy", True)
    refused = [r.event for r in trail.records if r.event.type.value == "quota_refused"]
    assert [(e.data["budget"], e.actor) for e in refused] == [("tokens_per_day", "planner")]


def test_the_cli_refuses_past_a_budget_and_shows_usage(
    tmp_path: Path, keyspace: Keyspace, redis_ready: None
) -> None:
    path = write_ops_swarm(
        tmp_path,
        tenants={"noisy": {"skills": ["work"], "quotas": {"tokens_per_day": 1}}},
        skills=[FAST],
    )
    cli_args = ["--redis-url", REDIS_URL, "--prefix", keyspace.prefix]

    async def spend() -> None:
        async with Client.from_swarm(path, REDIS_URL, prefix=keyspace.prefix) as client:
            tasks = await submit(client, "noisy", 2, "day-1")
            async with client.serve(concurrency=4):
                await client.wait_all(tasks, timeout_s=60)

    asyncio.run(spend())
    runner = CliRunner()
    task = ["--tenant", "noisy", "--skill", "work", "--input", '{"text": "x"}']
    result = runner.invoke(cli, ["submit", str(path), *task, *cli_args])
    assert result.exit_code == 2
    assert "has used its token budget for today" in result.stderr
    status = runner.invoke(cli, ["status", str(path), "--json", *cli_args])
    [row] = json.loads(status.stdout)["tenants"]
    assert row["tokens_today"] > 1
    assert row["throttled"] is None
    assert "throttled" in runner.invoke(cli, ["status", str(path), *cli_args]).stdout
