"""`chimera worker --processes N` on a real Redis: N workers in `chimera status`, a SIGKILLed
one replaced without losing a task, one SIGTERM draining them all."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from chimera.lib.keys import Keyspace
from tests.conftest import REDIS_URL

pytestmark = pytest.mark.redis

ROOT = Path(__file__).resolve().parents[3]


def swarm_with_latency(directory: Path, latency_ms: int) -> Path:
    """A one-tenant swarm whose `classify` calls take ``latency_ms``."""
    (directory / "skills").mkdir()
    skill = (ROOT / "skills" / "classify.yaml").read_text()
    (directory / "skills" / "classify.yaml").write_text(
        skill.replace("latency_ms: 3", f"latency_ms: {latency_ms}")
    )
    swarm = directory / "swarm.yaml"
    swarm.write_text("skills: [skills/*.yaml]\ntenants: {acme: {skills: [classify]}}\n")
    return swarm


def chimera(*args: str, prefix: str) -> list[str]:
    return [sys.executable, "-m", "chimera", *args, "--redis-url", REDIS_URL, "--prefix", prefix]


def start(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CHIMERA_LOG_LEVEL": "INFO"}
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log.open("wb")
    )


def submit(swarm: Path, prefix: str, count: int, tmp_path: Path) -> set[str]:
    lines = [
        json.dumps(
            {"tenant": "acme", "skill": "classify", "input": {"subject": f"s{i}", "body": "b"}}
        )
        for i in range(count)
    ]
    path = tmp_path / "tasks.jsonl"
    path.write_text("\n".join(lines) + "\n")
    out = subprocess.run(
        chimera("submit", str(swarm), "--file", str(path), "--json", prefix=prefix),
        cwd=ROOT,
        capture_output=True,
        check=True,
    )
    return {row["task_id"] for row in json.loads(out.stdout)["submitted"]}


def children_of(pid: int) -> set[int]:
    """Live processes whose parent is ``pid`` (Linux /proc)."""
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(entry.name))
    return found


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def settled(client: redis.Redis, keyspace: Keyspace) -> set[str]:
    keys = keyspace.tenant("acme")
    return set(client.hkeys(keys.settled)) | set(client.hkeys(keys.review))


def status_pids(swarm: Path, prefix: str) -> set[int]:
    out = subprocess.run(
        chimera("status", str(swarm), "--json", prefix=prefix),
        cwd=ROOT,
        capture_output=True,
        check=True,
    )
    return {row["pid"] for row in json.loads(out.stdout)["processes"]}


def commit_events(client: redis.Redis, keyspace: Keyspace) -> list[str]:
    events = (json.loads(f["event"]) for _, f in client.xrange(keyspace.tenant("acme").audit))
    return [event["task_id"] for event in events if event["type"] == "committed"]


@pytest.fixture
def client(keyspace: Keyspace) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        pytest.skip(f"no Redis at {REDIS_URL} ({exc})")
    yield client
    for key in client.scan_iter(match=f"{keyspace.prefix}:*"):
        client.delete(key)


def test_supervised_workers_show_in_status_and_a_killed_one_is_replaced_losing_nothing(
    client: redis.Redis, keyspace: Keyspace, tmp_path: Path
) -> None:
    prefix = keyspace.prefix
    swarm = swarm_with_latency(tmp_path, 200)
    base = ["worker", str(swarm), "--concurrency", "10", "--lease-ms", "1000", "--grace", "2"]
    supervisor = start(chimera(*base, "--processes", "2", prefix=prefix), tmp_path / "s.log")
    try:
        wait_for(lambda: len(children_of(supervisor.pid)) == 2, "two children")
        first = children_of(supervisor.pid)
        wait_for(lambda: first <= status_pids(swarm, prefix), "both in chimera status")

        ids = submit(swarm, prefix, 300, tmp_path)
        wait_for(lambda: len(settled(client, keyspace)) >= 40, "the first tasks to settle")
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: len(children_of(supervisor.pid) - first) == 1, "a replacement")
        (replacement,) = children_of(supervisor.pid) - first
        wait_for(lambda: replacement in status_pids(swarm, prefix), "it in chimera status")

        wait_for(lambda: ids <= settled(client, keyspace), "every task to settle")
        assert settled(client, keyspace) == ids
        assert client.xlen(keyspace.tenant("acme").dlq) == 0
        committed = client.hlen(keyspace.tenant("acme").committed)
        # The killed worker's tasks ran again elsewhere; each was committed once all the same.
        wait_for(lambda: len(commit_events(client, keyspace)) >= committed, "commit events")
        commits = commit_events(client, keyspace)
        assert len(commits) == len(set(commits)) == committed
    finally:
        supervisor.send_signal(signal.SIGTERM)
        code = supervisor.wait(timeout=60)
    log = (tmp_path / "s.log").read_text()
    assert code == 0, log
    assert log.count("supervisor.child_started") == 3
    assert log.count("supervisor.child_died") == 1


def test_one_sigterm_drains_every_child_and_their_tasks_wait_for_the_next_worker(
    client: redis.Redis, keyspace: Keyspace, tmp_path: Path
) -> None:
    prefix = keyspace.prefix
    swarm = swarm_with_latency(tmp_path, 60_000)
    base = ["worker", str(swarm), "--concurrency", "5", "--grace", "0.3", "--log-json"]
    supervisor = start(chimera(*base, "--processes", "2", prefix=prefix), tmp_path / "s.log")
    wait_for(lambda: len(children_of(supervisor.pid)) == 2, "two children")
    children = children_of(supervisor.pid)
    ids = submit(swarm, prefix, 20, tmp_path)
    keys = keyspace.tenant("acme")
    # Both children hold tasks: each has read five (its whole concurrency).
    wait_for(
        lambda: (
            all(c["pending"] == 5 for c in client.xinfo_consumers(keys.tasks, "workers"))
            and len(client.xinfo_consumers(keys.tasks, "workers")) == 2
        ),
        "both children to hold five tasks",
    )
    supervisor.send_signal(signal.SIGTERM)
    code = supervisor.wait(timeout=60)
    log = (tmp_path / "s.log").read_text()
    assert code == 0, log
    assert not any(Path(f"/proc/{pid}").exists() for pid in children)
    stops = [json.loads(line) for line in log.splitlines() if '"worker.stopped"' in line]
    assert sorted(stop["handed_back"] for stop in stops) == [5, 5]
    assert settled(client, keyspace) == set()

    # Nothing was lost: a worker with fast calls settles all twenty.
    fast = tmp_path / "fast"
    fast.mkdir()
    fast_swarm = swarm_with_latency(fast, 3)
    after = start(chimera("worker", str(fast_swarm), prefix=prefix), tmp_path / "after.log")
    try:
        wait_for(lambda: ids <= settled(client, keyspace), "every task to settle")
    finally:
        after.send_signal(signal.SIGTERM)
        assert after.wait(timeout=60) == 0
    assert settled(client, keyspace) == ids
