"""The distributed commands against a real Redis Cluster, with tenants on every master.

A Worker process and a Judge process (``redis+cluster://`` from ``CHIMERA_REDIS_URL`` for
one, ``--redis-url`` for the other) settle tasks of three tenants that live on three
different masters; ``submit``, ``status``, ``review``, ``results`` and ``audit --verify``
work there too, and so does ``run --redis-url``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import yaml

from chimera.lib.keys import Keyspace
from chimera.lib.redis_audit import RedisAuditTrail
from chimera.lib.redis_cluster import parse_cluster_url, slot_of
from tests.chimera.cluster_support import tenants_on_every_master

pytestmark = pytest.mark.redis

SKILL: dict[str, Any] = {
    "name": "work",
    "backend": "mock",
    "prompt": "Do {{ n }}",
    "input_schema": {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}},
    "output_schema": {
        "type": "object",
        "required": ["done"],
        "properties": {"done": {"type": "string"}},
    },
    "mock": {"latency_ms": 5, "confidence": 0.95},
}
#: Its answers land in the review band (between review_at and approve_at).
UNSURE: dict[str, Any] = {**SKILL, "name": "unsure", "mock": {"confidence": 0.6}}


def first_port(url: str) -> int:
    """The port of the first seed node of a cluster URL."""
    return parse_cluster_url(url).nodes[0][1]


def spread_tenants(url: str) -> tuple[str, ...]:
    """Three tenants whose slots are served by three different masters (asserted)."""
    placed = tenants_on_every_master(first_port(url))
    assert len(set(placed.values())) == 3, placed
    return tuple(placed)


def write_swarm(folder: Path, tenants: tuple[str, ...]) -> Path:
    (folder / "skills").mkdir(exist_ok=True)
    for skill in (SKILL, UNSURE):
        (folder / "skills" / f"{skill['name']}.yaml").write_text(yaml.safe_dump(skill))
    swarm = {
        "skills": ["skills/*.yaml"],
        "tenants": {tenant: {"skills": ["work", "unsure"]} for tenant in tenants},
        "judge": {"policy": "threshold", "approve_at": 0.8, "review_at": 0.5},
        "audit": {"sinks": ["redis"]},
    }
    (folder / "swarm.yaml").write_text(yaml.safe_dump(swarm))
    return folder / "swarm.yaml"


def cli(*args: str, url: str, prefix: str, **options: Any) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CHIMERA_LOG_LEVEL": "WARNING", "CHIMERA_REDIS_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "chimera", *args, "--prefix", prefix],
        capture_output=True,
        text=True,
        env=env,
        **options,
    )


async def test_tenants_keys_live_on_the_master_of_their_slot(
    cluster_redis: aioredis.Redis, cluster_url: str, keyspace: Keyspace
) -> None:
    placed = tenants_on_every_master(first_port(cluster_url))
    assert len(set(placed.values())) == 3
    for tenant, port in placed.items():
        keys = keyspace.tenant(tenant)
        await cluster_redis.hset(keys.ledger, "t", "1")
        node = cluster_redis.get_node_from_key(keys.ledger)  # type: ignore[attr-defined]
        assert node.port == port
        assert slot_of(keys.ledger) == slot_of(keys.session("s")) == slot_of(keys.audit)
        direct = aioredis.Redis(port=port, decode_responses=True)
        assert await direct.hget(keys.ledger, "t") == "1"  # stored on that master itself
        await direct.aclose()


async def test_worker_and_judge_processes_settle_every_task_on_the_cluster(
    cluster_redis: aioredis.Redis, cluster_url: str, keyspace: Keyspace, tmp_path: Path
) -> None:
    tenants = spread_tenants(cluster_url)
    swarm = write_swarm(tmp_path, tenants)
    prefix = keyspace.prefix
    env = {**os.environ, "CHIMERA_LOG_LEVEL": "WARNING"}
    base = [sys.executable, "-m", "chimera", "worker", str(swarm), "--prefix", prefix]
    procs = [
        subprocess.Popen(  # noqa: ASYNC220 - started once, before the test awaits anything
            [*base, "--no-judge", "--concurrency", "50", "--grace", "2"],
            env={**env, "CHIMERA_REDIS_URL": cluster_url},
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / "worker.log").open("wb"),
        ),
        subprocess.Popen(  # noqa: ASYNC220
            [*base, "--judge-only", "--redis-url", cluster_url, "--grace", "2"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / "judge.log").open("wb"),
        ),
    ]
    try:
        rows = [
            {
                "tenant": tenants[i % 3],
                "skill": "unsure" if i % 50 == 0 else "work",
                "input": {"n": i},
            }
            for i in range(300)
        ]
        path = tmp_path / "tasks.jsonl"
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
        out = cli(
            "submit", str(swarm), "--file", str(path), "--json", url=cluster_url, prefix=prefix
        )
        assert out.returncode == 0, out.stderr
        ids = [row["task_id"] for row in json.loads(out.stdout)["submitted"]]
        unsure = {ids[i] for i, row in enumerate(rows) if row["skill"] == "unsure"}
        settled = await _wait_settled(cluster_redis, keyspace, tenants, set(ids) - unsure)
        assert set(settled) >= set(ids) - unsure
        await _wait_for(lambda: _review_count(cluster_redis, keyspace, tenants), len(unsure))

        status = cli("status", str(swarm), "--json", url=cluster_url, prefix=prefix)
        assert status.returncode == 0, status.stderr
        listed = cli("review", "list", str(swarm), "--json", url=cluster_url, prefix=prefix)
        assert {item["task_id"] for item in json.loads(listed.stdout)["review"]} == unsure
        approved = cli(
            "review",
            "approve",
            str(swarm),
            "--all",
            "--actor",
            "ops",
            url=cluster_url,
            prefix=prefix,
        )
        assert approved.returncode == 0, approved.stderr
        settled = await _wait_settled(cluster_redis, keyspace, tenants, set(ids))
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        codes = [proc.wait(timeout=30) for proc in procs]
    assert codes == [0, 0]
    assert set(settled.values()) == {"committed"}
    # Each command starts a Python process (seconds on a busy machine): one tenant by CLI,
    # every tenant through the same code in this process.
    results = cli(
        "results", str(swarm), "--tenant", tenants[0], "--json", url=cluster_url, prefix=prefix
    )
    assert len(results.stdout.splitlines()) == 100
    audit = cli(
        "audit", str(swarm), "--tenant", tenants[1], "--verify", url=cluster_url, prefix=prefix
    )
    assert audit.returncode == 0, audit.stdout + audit.stderr
    for tenant in tenants:
        assert await cluster_redis.hlen(keyspace.tenant(tenant).committed) == 100
        check = await RedisAuditTrail(cluster_redis, keyspace).read(tenant, verify=True)
        assert check.ok, check.problem


def test_run_against_the_cluster(
    cluster_redis: aioredis.Redis, cluster_url: str, keyspace: Keyspace, tmp_path: Path
) -> None:
    tenants = spread_tenants(cluster_url)
    swarm = write_swarm(tmp_path, tenants)
    path = tmp_path / "in.jsonl"
    rows = [{"tenant": t, "skill": "work", "input": {"n": i}} for i, t in enumerate(tenants * 10)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))

    ran = cli(
        "run", str(swarm), "--redis-url", cluster_url, "--input", str(path), "--json",
        url="", prefix=keyspace.prefix, timeout=120,
    )  # fmt: skip

    assert ran.returncode == 0, ran.stderr
    report = json.loads(ran.stdout)
    assert report["totals"]["committed"] == 30, report["totals"]
    assert report["duplicates"] == 0


async def _wait_settled(
    client: aioredis.Redis, keyspace: Keyspace, tenants: tuple[str, ...], ids: set[str]
) -> dict[str, str]:
    deadline = time.monotonic() + 90
    settled: dict[str, str] = {}
    while time.monotonic() < deadline:
        settled = {}
        for tenant in tenants:
            settled.update(await client.hgetall(keyspace.tenant(tenant).settled))
        if ids <= set(settled):
            break
        await asyncio.sleep(0.2)
    return settled


async def _review_count(
    client: aioredis.Redis, keyspace: Keyspace, tenants: tuple[str, ...]
) -> int:
    return sum([await client.hlen(keyspace.tenant(t).review) for t in tenants])


async def _wait_for(probe: Any, wanted: int) -> None:
    deadline = time.monotonic() + 60
    found = await probe()
    while found < wanted and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        found = await probe()
    assert found == wanted
