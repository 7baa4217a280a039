"""Tasks per second on one Redis and on a Redis Cluster, with 1, 2 and 4 worker processes.

Prints a table; it is a measurement, not a test. Usage:

    uv run python benchmarks/cluster_scaling.py \\
        --redis-url redis://127.0.0.1:6379/0 \\
        --cluster-url redis+cluster://127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003 \\
        [--tasks 6000] [--processes 1,2,4] [--tenants 6]

For each Redis and each process count: ``chimera worker`` processes (Worker and Judge, the
shipped defaults, audit sink ``redis``) are started and waited for; then ``--tasks`` no-op
tasks (mock backend, no latency) spread over ``--tenants`` tenants are submitted in one
pipelined batch, and the clock runs until every one is committed. Reported: tasks/s, and
the CPU the Redis servers spent (``INFO cpu``) per 1,000 tasks and as a share of one core
over the run (``busiest``: the busiest node; a node near 100 % is the bottleneck). On the
cluster the tenants are picked so they spread evenly over the masters. Both runs share the
machine with the worker processes, so on a small machine the workers' CPU, not Redis, sets
the ceiling: compare the rows, and read Redis's share to see how far it is from saturating.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import redis.asyncio as aioredis
import yaml

from chimera.config.loader import load_swarm
from chimera.lib.keys import Keyspace
from chimera.lib.redis_cluster import is_cluster, node_of, parse_cluster_url
from chimera.lib.redis_connect import connect
from chimera.lib.redis_queue import RedisQueue
from chimera.lib.redis_sessions import RedisSessionStore
from chimera.services.audit import FanoutAuditLogger
from chimera.services.planner import Planner, Submission

HEADER = f"{'redis':8} {'procs':>5} {'tasks/s':>9} {'Redis CPU ms/1k':>16} {'busiest %':>10} {'all %':>7}"  # noqa: E501


def write_swarm(folder: Path, tenants: list[str]) -> Path:
    skill = {
        "name": "noop",
        "backend": "mock",
        "prompt": "Do {{ n }}",
        "input_schema": {"type": "object", "properties": {"n": {"type": "integer"}}},
        "output_schema": {"type": "object"},
        "mock": {"latency_ms": 0, "confidence": 0.95},
    }
    (folder / "skills").mkdir(parents=True, exist_ok=True)
    (folder / "skills" / "noop.yaml").write_text(yaml.safe_dump(skill))
    swarm = {
        "skills": ["skills/*.yaml"],
        "tenants": {t: {"skills": ["noop"]} for t in tenants},
        "audit": {"sinks": ["redis"]},
    }
    (folder / "swarm.yaml").write_text(yaml.safe_dump(swarm))
    return folder / "swarm.yaml"


async def pick_tenants(client: aioredis.Redis, count: int) -> list[str]:
    """``count`` tenants; on a cluster, as many on each master as can be."""
    if not is_cluster(client):
        return [f"bench{i}" for i in range(count)]
    by_node: dict[str, list[str]] = {}
    for i in range(10_000):
        name = f"bench{i}"
        node = await node_of(client, f"{{{name}}}")
        by_node.setdefault(node.name, []).append(name)
    spread = [name for group in zip(*by_node.values(), strict=False) for name in group]
    return spread[:count]


async def redis_cpu(url: str) -> list[float]:
    """CPU seconds (user + sys) each server (each master of a cluster) has used."""
    if url.startswith(("redis+cluster://", "rediss+cluster://")):
        nodes = parse_cluster_url(url).nodes
    else:
        client = aioredis.from_url(url)
        info = await client.info("cpu")
        await client.aclose()
        return [float(info["used_cpu_user"]) + float(info["used_cpu_sys"])]
    seconds = []
    for host, port in nodes:
        node = aioredis.Redis(host=host, port=port)
        info = await node.info("cpu")
        await node.aclose()
        seconds.append(float(info["used_cpu_user"]) + float(info["used_cpu_sys"]))
    return seconds


async def committed(client: aioredis.Redis, keyspace: Keyspace, tenants: list[str]) -> int:
    return sum([await client.hlen(keyspace.tenant(t).committed) for t in tenants])


async def heartbeats(client: aioredis.Redis, keyspace: Keyspace, tenant: str) -> int:
    return int(await client.hlen(keyspace.tenant(tenant).heartbeats))


def start(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def until(probe: Callable[[], Awaitable[int]], wanted: int, every_s: float) -> None:
    """Poll ``probe`` until it reaches ``wanted``."""
    while True:
        if await probe() >= wanted:
            return
        await asyncio.sleep(every_s)


async def run_one(url: str, processes: int, tasks: int, tenant_count: int) -> dict[str, float]:
    client = connect(url)
    keyspace = Keyspace(f"bench-{uuid.uuid4().hex[:8]}")
    tenants = await pick_tenants(client, tenant_count)
    folder = Path(tempfile.mkdtemp(prefix="chimera-cluster-bench-"))
    swarm_path = write_swarm(folder, tenants)
    env = {**os.environ, "CHIMERA_LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-m", "chimera", "worker", str(swarm_path),
               "--redis-url", url, "--prefix", keyspace.prefix]  # fmt: skip
    procs = [start(command, env) for _ in range(processes)]
    try:
        await until(lambda: heartbeats(client, keyspace, tenants[0]), processes, 0.2)
        swarm = load_swarm(swarm_path)
        queue = RedisQueue(client, keyspace)
        sessions = RedisSessionStore(client, keyspace)
        planner = Planner(swarm, queue, sessions, FanoutAuditLogger([]), batch_size=500)
        submissions = [
            Submission(tenants[i % len(tenants)], "noop", {"n": i}) for i in range(tasks)
        ]
        cpu_before = await redis_cpu(url)
        began = time.perf_counter()
        await planner.submit(submissions, session="bench")
        await until(lambda: committed(client, keyspace, tenants), tasks, 0.05)
        elapsed = time.perf_counter() - began
        cpu_after = await redis_cpu(url)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=60)
        await _delete(client, keyspace, tenants)
        await client.aclose()
    spent = [after - before for before, after in zip(cpu_before, cpu_after, strict=True)]
    return {
        "tasks_per_s": tasks / elapsed,
        "redis_cpu_ms_per_1000": sum(spent) * 1e6 / tasks,
        "busiest_pct": max(spent) / elapsed * 100,
        "total_pct": sum(spent) / elapsed * 100,
    }


async def _delete(client: aioredis.Redis, keyspace: Keyspace, tenants: list[str]) -> None:
    for tenant in tenants:
        keys = [k async for k in client.scan_iter(match=f"{keyspace.prefix}:{{{tenant}}}:*")]
        for key in keys:  # one by one: fine for a cleanup, and legal across slots
            await client.delete(key)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument(
        "--cluster-url",
        default="redis+cluster://127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003",
    )
    parser.add_argument("--tasks", type=int, default=6000)
    parser.add_argument("--processes", default="1,2,4")
    parser.add_argument("--tenants", type=int, default=6)
    parser.add_argument("--only", choices=["single", "cluster"], help="measure one side only")
    args = parser.parse_args()
    counts = [int(p) for p in args.processes.split(",")]
    print(f"{args.tasks} no-op tasks over {args.tenants} tenants; {os.cpu_count()} CPUs")
    print(HEADER)
    for name, url in (("single", args.redis_url), ("cluster", args.cluster_url)):
        if args.only not in (None, name):
            continue
        for processes in counts:
            row = asyncio.run(run_one(url, processes, args.tasks, args.tenants))
            print(
                f"{name:8} {processes:>5} {row['tasks_per_s']:>9.0f} "
                f"{row['redis_cpu_ms_per_1000']:>16.0f} {row['busiest_pct']:>10.0f} "
                f"{row['total_pct']:>7.0f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
