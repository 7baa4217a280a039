"""Crash tests with real processes on the real Redis: workers are SIGKILLed mid-run, their
connections killed, and yet every task is committed exactly once or dead-lettered with a
reason; nothing is lost, nothing committed twice, nothing left pending."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import yaml

from chimera.lib.keys import JUDGE_GROUP, WORKER_GROUP, Keyspace
from chimera.lib.redis_audit import RedisAuditSink, RedisAuditTrail
from chimera.lib.redis_pending_audit import RedisPendingAudit
from chimera.services.audit import FanoutAuditLogger
from chimera.services.audit_sweep import AuditSweep
from tests.conftest import REDIS_URL

pytestmark = [pytest.mark.redis, pytest.mark.slow]

SEED = int(os.environ.get("CHIMERA_CRASH_SEED", "20261124"))
TASKS = int(os.environ.get("CHIMERA_CRASH_TASKS", "2000"))
LEASE_MS = 1500


TENANTS = ("acme", "globex")


def write_swarm(folder: Path, crash: bool = False, tenants: tuple[str, ...] = TENANTS) -> Path:
    skill = {
        "name": "work",
        "backend": "mock",
        "prompt": "Do {{ n }}",
        "input_schema": {
            "type": "object",
            "required": ["n"],
            "properties": {"n": {"type": "integer"}},
        },
        "output_schema": {
            "type": "object",
            "required": ["done"],
            "properties": {"done": {"type": "string"}},
        },
        "retry": {"max_attempts": 3, "backoff_base_s": 0.05, "backoff_max_s": 0.5},
        "mock": {"latency_ms": 20, "latency_jitter_ms": 180, "confidence": 0.95},
    }
    poison = {**skill, "name": "poison", "mock": {"crash_process": True}}
    (folder / "skills").mkdir(exist_ok=True)
    (folder / "skills" / "work.yaml").write_text(yaml.safe_dump(skill))
    skills = ["work"]
    if crash:
        (folder / "skills" / "poison.yaml").write_text(yaml.safe_dump(poison))
        skills.append("poison")
    swarm = {
        "skills": ["skills/*.yaml"],
        "tenants": {tenant: {"skills": skills} for tenant in tenants},
        "audit": {"sinks": ["redis"]},
    }
    (folder / "swarm.yaml").write_text(yaml.safe_dump(swarm))
    return folder / "swarm.yaml"


class Fleet:
    """`chimera worker` processes that can be killed and restarted."""

    def __init__(
        self,
        swarm: Path,
        prefix: str,
        logs: Path,
        size: int,
        concurrency: int,
        url: str = REDIS_URL,
        log_level: str = "WARNING",
    ) -> None:
        self.swarm, self.prefix, self.logs, self.url = swarm, prefix, logs, url
        self.concurrency, self.log_level = concurrency, log_level
        self.started = 0
        self.log_paths: dict[int, Path] = {}
        self.procs = [self.spawn() for _ in range(size)]

    def spawn(self) -> subprocess.Popen[bytes]:
        self.started += 1
        self.born = time.monotonic()
        command = [
            sys.executable, "-m", "chimera", "worker", str(self.swarm),
            "--redis-url", self.url, "--prefix", self.prefix,
            "--concurrency", str(self.concurrency), "--lease-ms", str(LEASE_MS), "--grace", "1",
        ]  # fmt: skip
        path = self.logs / f"worker-{self.started}.log"
        env = {**os.environ, "CHIMERA_LOG_LEVEL": self.log_level}
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=path.open("wb"), env=env)
        self.log_paths[proc.pid] = path
        return proc

    def running(self, proc: subprocess.Popen[bytes]) -> bool:
        """Whether ``proc`` logged ``worker.started`` (needs ``log_level`` INFO)."""
        return b"worker.started" in self.log_paths[proc.pid].read_bytes()

    def kill_one(self, rng: random.Random, only_running: bool = False) -> bool:
        """SIGKILL a random worker (one that started working: ``only_running``), start another.

        Returns whether one was killed.
        """
        chosen = [i for i, p in enumerate(self.procs) if not only_running or self.running(p)]
        if not chosen:
            return False
        index = rng.choice(chosen)
        self.procs[index].send_signal(signal.SIGKILL)
        self.procs[index].wait()
        self.procs[index] = self.spawn()
        return True

    def respawn_dead(self) -> int:
        dead = 0
        for index, proc in enumerate(self.procs):
            if proc.poll() is not None:
                self.procs[index] = self.spawn()
                dead += 1
        return dead

    def stop(self) -> list[int]:
        # A worker still starting up (interpreter, imports) has no work to hand back; give
        # the youngest a moment so the test checks the graceful path of running workers.
        time.sleep(max(0.0, 1.5 - (time.monotonic() - self.born)))
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        return [proc.wait(timeout=30) for proc in self.procs]


async def submit(
    swarm: Path, prefix: str, folder: Path, rows: list[dict[str, Any]], url: str = REDIS_URL
) -> list[str]:
    path = folder / "tasks.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    out = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "chimera", "submit", str(swarm), "--file", str(path), "--json",
         "--redis-url", url, "--prefix", prefix],
        capture_output=True,
        check=True,
    )  # fmt: skip
    return [row["task_id"] for row in json.loads(out.stdout)["submitted"]]


async def outcomes(
    client: aioredis.Redis, keyspace: Keyspace, tenants: tuple[str, ...] = TENANTS
) -> dict[str, str]:
    found: dict[str, str] = {}
    for tenant in tenants:
        found.update(await client.hgetall(keyspace.tenant(tenant).settled))
    return found


async def wait_settled(
    client: aioredis.Redis,
    keyspace: Keyspace,
    ids: list[str],
    fleet: Fleet,
    deadline_s: float,
    chaos: Any = None,
    tenants: tuple[str, ...] = TENANTS,
) -> dict[str, str]:
    deadline = time.monotonic() + deadline_s
    settled: dict[str, str] = {}
    while time.monotonic() < deadline:
        settled = await outcomes(client, keyspace, tenants)
        if set(ids) <= set(settled):
            return settled
        if chaos is not None:
            chaos()
        fleet.respawn_dead()
        await asyncio.sleep(0.25)
    return settled


async def check_invariants(
    client: aioredis.Redis,
    keyspace: Keyspace,
    ids: list[str],
    settled: dict[str, str],
    tenants: tuple[str, ...] = TENANTS,
) -> dict[str, int]:
    assert set(ids) <= set(settled), f"{len(set(ids) - set(settled))} tasks never settled"
    committed_ids: list[str] = []
    dead = 0
    for tenant in tenants:
        keys = keyspace.tenant(tenant)
        committed_ids += await client.hkeys(keys.committed)
        # No pending entry anywhere, and the streams hold nothing.
        for stream, group in ((keys.tasks, WORKER_GROUP), (keys.results, JUDGE_GROUP)):
            info = {g["name"]: g for g in await client.xinfo_groups(stream)}
            assert info[group]["pending"] == 0, f"{stream} has pending entries"
            assert await client.xlen(stream) == 0, f"{stream} still holds entries"
        assert await client.zcard(keys.delayed) == 0
        assert await client.hlen(keys.ledger) == 0
        for _, fields in await client.xrange(keys.dlq):
            body = json.loads(fields["body"])
            assert body["reason"], "a dead letter without a reason"
            dead += 1
    assert sorted(committed_ids) == sorted(k for k, v in settled.items() if v == "committed")
    assert dead == sum(1 for v in settled.values() if v == "dead_lettered")
    # Exactly once: one commit event per committed task in the audit trails.
    commits: list[str] = []
    for tenant in tenants:
        for _, fields in await client.xrange(keyspace.tenant(tenant).audit):
            event = json.loads(fields["event"])
            if event["type"] == "committed":
                commits.append(event["task_id"])
    assert len(commits) == len(set(commits))
    return {"committed": len(committed_ids), "dead_lettered": dead}


async def test_random_sigkills_lose_and_duplicate_nothing(
    real_redis: aioredis.Redis, keyspace: Keyspace, tmp_path: Path
) -> None:
    await sigkill_chaos(real_redis, keyspace, tmp_path, REDIS_URL, TENANTS)


async def sigkill_chaos(
    client: aioredis.Redis,
    keyspace: Keyspace,
    folder: Path,
    url: str,
    tenants: tuple[str, ...],
    tasks: int = TASKS,
    only_running: bool = False,
    max_kills: int | None = None,
) -> None:
    """SIGKILL random workers of three while ``tasks`` run; then check every invariant.

    ``only_running``: kill only workers that started working (on a loaded machine a worker
    may take seconds to start, and killing it while it imports tests nothing).
    ``max_kills``: then let the run finish (a kill a second outpaces a loaded machine).
    """
    rng = random.Random(SEED)
    swarm = write_swarm(folder, tenants=tenants)
    level = "INFO" if only_running else "WARNING"
    fleet = Fleet(swarm, keyspace.prefix, folder, 3, 10, url=url, log_level=level)
    try:
        rows = [
            {"tenant": rng.choice(tenants), "skill": "work", "input": {"n": i}}
            for i in range(tasks)
        ]
        ids = await submit(swarm, keyspace.prefix, folder, rows, url)
        last_kill = [time.monotonic()]
        kills = [0]

        def chaos() -> None:
            if max_kills is not None and kills[0] >= max_kills:
                return
            if time.monotonic() - last_kill[0] > rng.uniform(0.7, 1.3) and fleet.kill_one(
                rng, only_running
            ):
                kills[0] += 1
                last_kill[0] = time.monotonic()

        settled = await wait_settled(client, keyspace, ids, fleet, 240, chaos, tenants)
        # Let the surviving judges write their last post-commit audit events.
        await asyncio.sleep(0.5)
    finally:
        codes = fleet.stop()
    assert kills[0] >= 3
    assert codes == [0] * len(codes)
    totals = await check_invariants(client, keyspace, ids, settled, tenants)
    assert totals["committed"] + totals["dead_lettered"] == tasks
    await check_complete_audit(client, keyspace, settled, tenants)


async def test_poison_task_is_dead_lettered_after_repeated_deliveries(
    real_redis: aioredis.Redis, keyspace: Keyspace, tmp_path: Path
) -> None:
    swarm = write_swarm(tmp_path, crash=True)
    fleet = Fleet(swarm, keyspace.prefix, tmp_path, size=2, concurrency=5)
    try:
        ids = await submit(swarm, keyspace.prefix, tmp_path, [
            {"tenant": "acme", "skill": "poison", "input": {"n": 0}},
            *({"tenant": "acme", "skill": "work", "input": {"n": i}} for i in range(1, 21)),
        ])  # fmt: skip
        settled = await wait_settled(real_redis, keyspace, ids, fleet, 120)
    finally:
        fleet.stop()
    assert settled[ids[0]] == "dead_lettered"
    letters = [
        json.loads(f["body"]) for _, f in await real_redis.xrange(keyspace.tenant("acme").dlq)
    ]
    [poison] = [b for b in letters if b["task"]["id"] == ids[0]]
    assert poison["reason"].startswith("poison: delivered")
    # Tasks that shared a worker with the poison task were redelivered, then isolated
    # from it: none of them is dead-lettered.
    assert len(letters) == 1
    assert all(settled[i] == "committed" for i in ids[1:])
    assert fleet.started > 2  # the poison task really did kill workers


async def test_client_kill_mid_run_loses_and_duplicates_nothing(
    real_redis: aioredis.Redis, keyspace: Keyspace, tmp_path: Path
) -> None:
    swarm = write_swarm(tmp_path)
    fleet = Fleet(swarm, keyspace.prefix, tmp_path, size=2, concurrency=20)
    rng = random.Random(SEED + 1)
    try:
        rows = [
            {"tenant": rng.choice(["acme", "globex"]), "skill": "work", "input": {"n": i}}
            for i in range(600)
        ]
        ids = await submit(swarm, keyspace.prefix, tmp_path, rows)
        last = [time.monotonic()]

        def chaos() -> None:
            if time.monotonic() - last[0] > 0.5:
                last[0] = time.monotonic()
                asyncio.get_running_loop().create_task(_kill_worker_connections(real_redis))

        settled = await wait_settled(real_redis, keyspace, ids, fleet, 120, chaos)
        await asyncio.sleep(0.5)
    finally:
        codes = fleet.stop()
    assert codes == [0, 0]
    totals = await check_invariants(real_redis, keyspace, ids, settled)
    assert totals["committed"] + totals["dead_lettered"] == 600
    await check_complete_audit(real_redis, keyspace, settled)


async def check_complete_audit(
    client: aioredis.Redis,
    keyspace: Keyspace,
    settled: dict[str, str],
    tenants: tuple[str, ...] = TENANTS,
) -> None:
    """Every task's submitted, decision and outcome events, each exactly once.

    Events a killed connection left pending (kept by the scripts beside what they report)
    are what any Judge's sweep sends later: run that sweep here instead of waiting for it.
    """
    sink = RedisAuditSink(client, keyspace)
    pending = RedisPendingAudit(client, keyspace)
    await AuditSweep(pending, FanoutAuditLogger([sink]), list(tenants), after_s=0).sweep()
    seen: dict[str, list[str]] = defaultdict(list)
    for tenant in tenants:
        check = await RedisAuditTrail(client, keyspace).read(tenant, verify=True)
        assert check.ok, check.problem
        for record in check.records:
            if record.event.task_id is not None:
                seen[record.event.task_id].append(record.event.type.value)
    for task_id, outcome in settled.items():
        kinds = seen[task_id]
        assert kinds.count("submitted") == 1, (task_id, kinds)
        if outcome == "committed":
            assert kinds.count("decision") == 1, (task_id, kinds)
            assert kinds.count("committed") == 1, (task_id, kinds)
        else:
            assert kinds.count("dead_lettered") == 1, (task_id, kinds)


async def _kill_worker_connections(client: aioredis.Redis) -> None:
    me = await client.client_id()
    for info in await client.client_list():
        if int(info["id"]) != me and "chimera-worker" in info.get("name", ""):
            await client.client_kill_filter(_id=info["id"])
