"""Scaling out: tasks/s and Redis CPU with 1, 2 and 4 worker processes on one Redis.

Prints a table; it is a measurement, not a test. Usage:

    uv run python benchmarks/scaling.py [--redis-url URL] [--processes 1,2,4] [--tasks N]
                                        [--tenants K] [--aof no,everysec,always] [--quick]

For each process count N: a fresh key prefix, a one-skill swarm on the mock backend (no-op
calls) with K tenants, N*``--tasks`` tasks submitted first (``chimera submit --file``), then
``chimera worker SWARM --processes N`` with the shipped defaults (Worker and Judge in every
process, concurrency 200, audit sinks ``log`` and ``redis``, log level INFO, its log
discarded). The window measured opens once all N processes have written their heartbeat and
closes when 90 % of the tasks are committed, so start-up and the tail are left out:

- ``tasks/s``: tasks committed in the window per second;
- ``redis cpu``: ``INFO cpu`` ``used_cpu_sys`` + ``used_cpu_user`` over the window, as a share
  of one core (Redis runs commands on one thread: near 100 % it is saturated), and per task;
- ``workers cpu``: the children's user + system CPU per task (/proc);
- ``redis ceiling``: 1 s / Redis CPU per task, the rate at which this Redis would saturate.

Without ``--redis-url`` it starts a private ``redis-server`` on a free loopback port (no
other client's load in its CPU figures; ``--aof`` sets its persistence, several modes
compared in one run), and stops it after.
With ``--redis-url`` any URL the CLI accepts is used as is, ``redis+cluster://`` included once
the CLI accepts it: CPU is then summed over the primaries that ``CLUSTER NODES`` lists.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import redis
import yaml

from chimera.lib.keys import Keyspace

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def write_swarm(folder: Path, tenants: int) -> Path:
    """A swarm of ``tenants`` tenants running one no-op skill on the mock backend."""
    skill = {
        "name": "bench",
        "backend": "mock",
        "prompt": "Summarise {{ text }}",
        "input_schema": {"type": "object", "required": ["text"], "properties": {"text": {}}},
        "output_schema": {
            "type": "object",
            "required": ["summary"],
            "properties": {"summary": {"type": "string"}},
        },
        "mock": {"latency_ms": 0, "confidence": 0.95},
    }
    (folder / "skills").mkdir(parents=True, exist_ok=True)
    (folder / "skills" / "bench.yaml").write_text(yaml.safe_dump(skill))
    names = {f"t{i}": {"skills": ["bench"]} for i in range(tenants)}
    path = folder / "swarm.yaml"
    path.write_text(yaml.safe_dump({"skills": ["skills/*.yaml"], "tenants": names}))
    return path


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def children_of(pid: int) -> list[int]:
    """Live children of ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def plain_url(url: str) -> str:
    """The URL redis-py's own clients take (``redis+cluster://`` becomes ``redis://``)."""
    return "redis://" + url.removeprefix("redis+cluster://") if "+cluster" in url else url


def primaries(url: str) -> list[redis.Redis]:
    """A client per Redis whose CPU counts: the server, or every primary of a cluster."""
    client = redis.Redis.from_url(plain_url(url), decode_responses=True)
    info = client.info("cluster")
    if not info.get("cluster_enabled"):
        return [client]
    nodes = client.execute_command("CLUSTER NODES")  # type: ignore[no-untyped-call]
    client.close()
    text = nodes if isinstance(nodes, str) else "\n".join(nodes)
    found = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) > 2 and "master" in parts[2]:
            host, port = parts[1].split("@")[0].rsplit(":", 1)
            found.append(redis.Redis(host=host, port=int(port), decode_responses=True))
    return found


def redis_cpu(servers: list[redis.Redis]) -> float:
    """CPU seconds the servers have used so far, summed."""
    total = 0.0
    for server in servers:
        info = server.info("cpu")
        total += float(info["used_cpu_sys"]) + float(info["used_cpu_user"])
    return total


def count(servers: list[redis.Redis], keyspace: Keyspace, tenants: int, key: str) -> int:
    """HLEN of ``key`` (committed, heartbeats) summed over the tenants, asked of every node.

    A key lives on one node of a cluster; asking each node and ignoring its MOVED is simpler
    here than a cluster client.
    """
    total = 0
    for tenant in range(tenants):
        name = getattr(keyspace.tenant(f"t{tenant}"), key)
        for server in servers:
            try:
                total += server.hlen(name)
                break
            except redis.ResponseError:
                continue
    return total


@dataclass
class Run:
    processes: int
    tasks: int
    seconds: float
    redis_cpu_s: float
    workers_cpu_s: float

    def row(self) -> list[str]:
        rate = self.tasks / self.seconds
        redis_us = self.redis_cpu_s / self.tasks * 1e6
        return [
            str(self.processes),
            f"{rate:,.0f}",
            f"{self.redis_cpu_s / self.seconds:.0%}",
            f"{redis_us:,.0f}",
            f"{self.workers_cpu_s / self.tasks * 1e6:,.0f}",
            f"{1e6 / redis_us:,.0f}" if redis_us else "-",
        ]


def submit(url: str, prefix: str, swarm: Path, tenants: int, tasks: int, folder: Path) -> None:
    lines = (
        json.dumps({"tenant": f"t{i % tenants}", "skill": "bench", "input": {"text": f"x{i}"}})
        for i in range(tasks)
    )
    path = folder / "tasks.jsonl"
    path.write_text("\n".join(lines) + "\n")
    subprocess.run(
        [sys.executable, "-m", "chimera", "submit", str(swarm), "--file", str(path),
         "--redis-url", url, "--prefix", prefix],
        check=True, capture_output=True,
    )  # fmt: skip


def measure(url: str, processes: int, tasks: int, tenants: int) -> Run:
    """One run of ``chimera worker --processes N`` over ``tasks`` tasks submitted first."""
    servers = primaries(url)
    keyspace = Keyspace(f"bench-scale-{uuid.uuid4().hex[:8]}")
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        swarm = write_swarm(folder, tenants)
        submit(url, keyspace.prefix, swarm, tenants, tasks, folder)
        argv = [sys.executable, "-m", "chimera", "worker", str(swarm), "--redis-url", url]
        argv += ["--prefix", keyspace.prefix, "--processes", str(processes)]
        supervisor = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            # Every process writes one heartbeat per tenant as its loops start.
            while count(servers, keyspace, tenants, "heartbeats") < processes * tenants:
                time.sleep(0.05)
            start = (time.perf_counter(), count(servers, keyspace, tenants, "committed"))
            children = children_of(supervisor.pid)
            cpu = (redis_cpu(servers), sum(cpu_seconds(pid) for pid in children))
            if start[1] > tasks // 2:
                print(f"  note: {start[1]:,} of {tasks:,} committed before all were up")
            done = start[1]
            while done < tasks * 0.9:
                time.sleep(0.1)
                done = count(servers, keyspace, tenants, "committed")
            seconds = time.perf_counter() - start[0]
            redis_cpu_s = redis_cpu(servers) - cpu[0]
            workers_cpu_s = sum(cpu_seconds(pid) for pid in children) - cpu[1]
        finally:
            supervisor.send_signal(signal.SIGTERM)
            supervisor.wait(timeout=60)
    for server in servers:
        for key in server.scan_iter(match=f"{keyspace.prefix}:*", count=1000):
            server.delete(key)
        server.close()
    return Run(processes, done - start[1], seconds, redis_cpu_s, workers_cpu_s)


def private_redis(folder: Path, aof: str) -> tuple[subprocess.Popen[bytes], str]:
    """A ``redis-server`` of our own on a free loopback port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    args += ["--dir", str(folder)]
    args += ["--appendonly", "no"] if aof == "no" else ["--appendonly", "yes", "--appendfsync", aof]
    server = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(100):
        if subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).stdout:
            return server, url
        time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--redis-url", help="use this Redis (or cluster) instead of a private one")
    parser.add_argument("--processes", default="1,2,4", help="process counts, comma-separated")
    parser.add_argument("--tasks", type=int, default=10_000, help="tasks per worker process")
    parser.add_argument("--tenants", type=int, default=4)
    parser.add_argument(
        "--aof",
        default="no",
        help="persistence of the private Redis, comma-separated to compare: no, everysec, always",
    )
    parser.add_argument("--quick", action="store_true", help="a fifth of the tasks")
    args = parser.parse_args()
    counts = [int(part) for part in args.processes.split(",")]
    modes = [part.strip() for part in args.aof.split(",")]
    if not set(modes) <= {"no", "everysec", "always"}:
        parser.error("--aof takes no, everysec and always")
    per_process = args.tasks // 5 if args.quick else args.tasks
    rows: list[list[str]] = []
    for mode in [None] if args.redis_url else modes:
        with tempfile.TemporaryDirectory() as name:
            server, url = (
                (None, args.redis_url) if mode is None else private_redis(Path(name), mode)
            )
            try:
                for n in counts:
                    run = measure(url, n, n * per_process, args.tenants)
                    rows.append([mode or "-", *run.row()])
            finally:
                if server is not None:
                    server.terminate()
                    server.wait()
    where = args.redis_url or "a private redis-server"
    print(f"cpus: {os.cpu_count()}; redis: {where}; tenants: {args.tenants}")
    header = ["aof", "processes", "tasks/s", "redis cpu", "redis us/task", "workers us/task",
              "redis ceiling/s"]  # fmt: skip
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
