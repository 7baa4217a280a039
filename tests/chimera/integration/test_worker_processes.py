"""Two `chimera worker` processes on a real Redis, fed with `chimera submit`: every task gets
exactly one terminal outcome, none twice."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis

from chimera.lib.keys import Keyspace
from tests.conftest import REDIS_URL

pytestmark = pytest.mark.redis

ROOT = Path(__file__).resolve().parents[3]
TASKS = 500


def chimera(*args: str, prefix: str) -> list[str]:
    return [sys.executable, "-m", "chimera", *args, "--redis-url", REDIS_URL, "--prefix", prefix]


def start_worker(prefix: str, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        chimera("worker", "swarm.yaml", "--concurrency", "50", "--grace", "2", prefix=prefix),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
        env={**os.environ, "CHIMERA_LOG_LEVEL": "WARNING"},
    )


async def test_two_worker_processes_settle_every_task_once(
    real_redis: aioredis.Redis, keyspace: Keyspace, tmp_path: Path
) -> None:
    prefix = keyspace.prefix
    workers = [start_worker(prefix, tmp_path / f"w{i}.log") for i in range(2)]
    try:
        task_ids: list[str] = []
        for batch in range(5):
            lines = [
                json.dumps(
                    {
                        "tenant": "acme" if i % 2 else "globex",
                        "skill": "classify",
                        "input": {"subject": f"s{batch}-{i}", "body": "b"},
                    }
                )
                for i in range(TASKS // 5)
            ]
            path = tmp_path / f"batch{batch}.jsonl"
            path.write_text("\n".join(lines) + "\n")
            out = await asyncio.to_thread(
                subprocess.run,
                chimera("submit", "swarm.yaml", "--file", str(path), "--json", prefix=prefix),
                cwd=ROOT,
                capture_output=True,
                check=True,
            )
            task_ids += [row["task_id"] for row in json.loads(out.stdout)["submitted"]]
        assert len(set(task_ids)) == TASKS

        deadline = time.monotonic() + 60
        settled: dict[str, str] = {}
        while time.monotonic() < deadline:
            settled = {}
            for tenant in ("acme", "globex"):
                keys = keyspace.tenant(tenant)
                settled.update(await real_redis.hgetall(keys.settled))
                settled.update(dict.fromkeys(await real_redis.hkeys(keys.review), "review"))
            if len(settled) >= TASKS:
                break
            await _sleep(0.2)
        assert set(settled) == set(task_ids)
        committed = 0
        for tenant in ("acme", "globex"):
            keys = keyspace.tenant(tenant)
            committed += await real_redis.hlen(keys.committed)
            assert await real_redis.xlen(keys.dlq) == 0
            assert await real_redis.hlen(keys.ledger) == await real_redis.hlen(keys.review)
        assert committed == sum(1 for v in settled.values() if v == "committed")
        # Committed exactly once: the audit trails hold one commit event per committed task.
        # Those events are written just after each commit, so give the last batch a moment.
        commits: list[str] = []
        while time.monotonic() < deadline + 10:
            commits = await _commit_events(real_redis, keyspace)
            if len(commits) >= committed:
                break
            await _sleep(0.1)
        assert len(commits) == len(set(commits)) == committed
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        codes = [worker.wait(timeout=20) for worker in workers]
    assert codes == [0, 0]


async def _commit_events(client: aioredis.Redis, keyspace: Keyspace) -> list[str]:
    commits: list[str] = []
    for tenant in ("acme", "globex"):
        for _, fields in await client.xrange(keyspace.tenant(tenant).audit):
            event = json.loads(fields["event"])
            if event["type"] == "committed":
                commits.append(event["task_id"])
    return commits


async def _sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


async def test_split_worker_and_judge_processes_settle_every_task(
    real_redis: aioredis.Redis, keyspace: Keyspace, tmp_path: Path
) -> None:
    prefix = keyspace.prefix
    env = {**os.environ, "CHIMERA_LOG_LEVEL": "WARNING"}
    base = ["worker", "swarm.yaml", "--concurrency", "20", "--grace", "2"]
    procs = [
        spawn(chimera(*base, flag, prefix=prefix), tmp_path / f"{flag}.log", env)
        for flag in ("--no-judge", "--judge-only")
    ]
    try:
        lines = [
            json.dumps(
                {"tenant": "acme", "skill": "classify", "input": {"subject": f"s{i}", "body": "b"}}
            )
            for i in range(40)
        ]
        path = tmp_path / "tasks.jsonl"
        path.write_text("\n".join(lines) + "\n")
        out = await asyncio.to_thread(
            subprocess.run,
            chimera("submit", "swarm.yaml", "--file", str(path), "--json", prefix=prefix),
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        ids = {row["task_id"] for row in json.loads(out.stdout)["submitted"]}
        keys = keyspace.tenant("acme")
        deadline = time.monotonic() + 30
        settled: set[str] = set()
        while time.monotonic() < deadline and not ids <= settled:
            settled = set(await real_redis.hkeys(keys.settled)) | set(
                await real_redis.hkeys(keys.review)
            )
            await _sleep(0.2)
        assert ids <= settled
        groups = {g["name"]: g for g in await real_redis.xinfo_groups(keys.results)}
        assert groups["judges"]["consumers"] == 1  # only the --judge-only process judges
        tasks_groups = {g["name"]: g for g in await real_redis.xinfo_groups(keys.tasks)}
        assert tasks_groups["workers"]["consumers"] == 1  # only the --no-judge process works
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        codes = [proc.wait(timeout=20) for proc in procs]
    assert codes == [0, 0]


def spawn(command: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log.open("wb")
    )


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupting_run_stops_it_with_one_line(
    real_redis: aioredis.Redis, tmp_path: Path, sig: int, code: int
) -> None:
    swarm = tmp_path / "swarm.yaml"
    (tmp_path / "skills").mkdir()
    skill = (
        (ROOT / "skills" / "classify.yaml")
        .read_text()
        .replace("latency_ms: 3", "latency_ms: 60000")
    )
    (tmp_path / "skills" / "classify.yaml").write_text(skill)
    swarm.write_text(
        "skills: [skills/*.yaml]\ntenants: {acme: {skills: [classify]}}\n"
        "jobs: [{tenant: acme, skill: classify, input: {subject: s, body: b}}]\n"
    )
    prefix = f"chimera-test-int-{uuid.uuid4().hex[:8]}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "chimera", "run", str(swarm), "--redis-url", REDIS_URL,
         "--prefix", prefix],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    deadline = time.monotonic() + 30
    # Wait until the run is under way: its task is in the ledger, the 60 s call running.
    while not client.hlen(f"{prefix}:{{acme}}:ledger") and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == code
    assert err.decode().strip().splitlines()[-1] == (
        f"interrupted: unfinished tasks stay in {REDIS_URL}"
    )
    assert b"Traceback" not in err
    for key in client.scan_iter(match=f"{prefix}:*"):
        client.delete(key)
