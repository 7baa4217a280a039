"""A real `chimera worker` process: its start and stop lines, its heartbeat in `chimera status`,
its metrics endpoint, and `status --watch`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from prometheus_client.parser import text_string_to_metric_families

from chimera.lib.keys import Keyspace
from tests.conftest import REDIS_URL

pytestmark = pytest.mark.redis

ROOT = Path(__file__).resolve().parents[3]


def chimera(*args: str, prefix: str) -> list[str]:
    return [sys.executable, "-m", "chimera", *args, "--redis-url", REDIS_URL, "--prefix", prefix]


def run(*args: str, prefix: str) -> Any:
    out = subprocess.run(chimera(*args, prefix=prefix), cwd=ROOT, capture_output=True, check=True)
    return json.loads(out.stdout)


class LogLines:
    """Collects a process's JSON log lines from its stderr as they come."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.lines: list[dict[str, Any]] = []
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            try:
                self.lines.append(json.loads(raw))
            except json.JSONDecodeError:
                self.lines.append({"event": "unparsed", "text": raw.decode(errors="replace")})

    def wait_for(self, event: str, within: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            for line in self.lines:
                if line.get("event") == event:
                    return line
            time.sleep(0.05)
        raise AssertionError(f"no {event!r} line; got {self.lines}")

    def join(self) -> None:
        self._thread.join(timeout=10)


@pytest.fixture
def worker(keyspace: Keyspace, real_redis: aioredis.Redis) -> Iterator[tuple[Any, LogLines]]:
    args = ["worker", "swarm.yaml", "--concurrency", "5", "--grace", "2", "--metrics-port", "0"]
    proc = subprocess.Popen(
        [*chimera(*args, prefix=keyspace.prefix), "--log-json", "--log-level", "INFO"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "CHIMERA_LOG_LEVEL": "INFO"},
    )
    lines = LogLines(proc)
    try:
        yield proc, lines
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def scrape(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url, timeout=5) as answer:
        text = answer.read().decode()
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    return totals


def test_a_worker_says_who_it_is_shows_in_status_and_leaves_cleanly(
    worker: tuple[subprocess.Popen[bytes], LogLines], keyspace: Keyspace, tmp_path: Path
) -> None:
    proc, lines = worker
    prefix = keyspace.prefix
    started = lines.wait_for("worker.started")
    assert started["tenants"] == ["acme", "globex"]
    assert started["concurrency"] == 5
    assert started["roles"] == ["worker", "judge"]
    assert started["redis"] == REDIS_URL
    assert len(started["config"]) == 12
    assert started["version"]

    status = _wait_for_status(prefix, lambda rows: rows["acme"]["workers"] == 1)
    acme = status["tenants"][0]
    assert (acme["tenant"], acme["workers"], acme["judges"]) == ("acme", 1, 1)
    assert acme["config"] == "same"  # it runs what this swarm file says
    [process] = status["processes"]
    assert (process["pid"], process["consumer"]) == (proc.pid, started["consumer"])
    assert process["config"] == started["config"]

    tasks = [
        json.dumps(
            {"tenant": "acme", "skill": "classify", "input": {"subject": f"s{i}", "body": "b"}}
        )
        for i in range(3)
    ]
    (tmp_path / "tasks.jsonl").write_text("\n".join(tasks) + "\n")
    run("submit", "swarm.yaml", "--file", str(tmp_path / "tasks.jsonl"), "--json", prefix=prefix)
    settled = _wait_for_status(
        prefix,
        lambda rows: sum(rows["acme"][k] or 0 for k in ("committed", "denied", "review")) == 3,
    )
    acme = settled["tenants"][0]
    metrics = scrape(started["metrics"])
    assert metrics["chimera_tasks_total"] == 3
    assert acme["committed"] + acme["denied"] + acme["review"] == 3
    assert acme["denied"] is not None

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    lines.join()
    stopped = lines.wait_for("worker.stopped", within=1)
    assert (stopped["tasks_done"], stopped["handed_back"], stopped["judged"]) == (3, 0, 3)
    after = run("status", "swarm.yaml", "--json", prefix=prefix)
    assert [row["workers"] for row in after["tenants"]] == [0, 0]
    assert after["processes"] == []


def _wait_for_status(prefix: str, check: Any, within: float = 30.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        status = run("status", "swarm.yaml", "--json", prefix=prefix)
        if check({row["tenant"]: row for row in status["tenants"]}):
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.2)


def test_status_watch_prints_a_line_per_refresh_until_interrupted(
    real_redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    args = ["status", "swarm.yaml", "--watch", "--json", "--interval", "0.2", "--tenant", "globex"]
    proc = subprocess.Popen(
        chimera(*args, prefix=keyspace.prefix),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    first = json.loads(proc.stdout.readline())
    second = json.loads(proc.stdout.readline())
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert second["at"] > first["at"]
    assert [row["tenant"] for row in first["tenants"]] == ["globex"]
    assert first["tenants"][0]["workers"] == 0
