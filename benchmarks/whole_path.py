"""The whole path at speed: a real `chimera worker` process beside a bare redis-py loop.

Prints a table; it is a measurement, not a test. Usage:

    uv run python benchmarks/whole_path.py [--redis-url URL] [--tasks N] [--quick]

What runs, in one invocation so both sides see the same machine:

- **bare**: one process doing with plain redis-py what chimera does per task, no models,
  no checks: XADD the task (pipelined batches), XREADGROUP it, XADD a result and XACK the
  task, XREADGROUP the result, HSET the committed row and XACK the result.
- **chimera**: `chimera worker SWARM` started as its own process with the shipped defaults
  (Worker and Judge, concurrency 200, audit sinks `log` and `redis`, log level INFO) and a
  one-skill swarm on the mock backend; tasks are submitted from this process through the
  Planner (as `chimera submit --file` does) and counted once committed.

Figures: (a) no-op tasks end to end, tasks/s, and the ratio to bare; (b) the worker
process's CPU time per task (user + system, from /proc); (c) with 100 ms calls, tasks/s
against the ideal (slots / latency) at the default concurrency and at 1,000 slots, the
queue filled first; (d) the worker's peak RSS at 1,000 in flight.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path

import redis.asyncio as aioredis
import yaml

from chimera.config.loader import load_swarm
from chimera.lib.keys import Keyspace
from chimera.lib.redis_queue import RedisQueue
from chimera.lib.redis_sessions import RedisSessionStore
from chimera.services.planner import Planner, Submission

BATCH = 500
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def write_swarm(folder: Path, latency_ms: float) -> Path:
    skill = {
        "name": "bench",
        "backend": "mock",
        "prompt": "Summarise {{ text }}",
        "input_schema": {
            "type": "object",
            "required": ["text"],
            "properties": {"text": {"type": "string"}},
        },
        "output_schema": {
            "type": "object",
            "required": ["summary"],
            "properties": {"summary": {"type": "string"}},
        },
        "mock": {"latency_ms": latency_ms, "confidence": 0.95},
    }
    (folder / "skills").mkdir(parents=True, exist_ok=True)
    (folder / "skills" / "bench.yaml").write_text(yaml.safe_dump(skill))
    swarm = {"skills": ["skills/*.yaml"], "tenants": {"bench": {"skills": ["bench"]}}}
    path = folder / "swarm.yaml"
    path.write_text(yaml.safe_dump(swarm))
    return path


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def cleanup(client: aioredis.Redis, prefix: str) -> None:
    keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
    for start in range(0, len(keys), 500):
        await client.delete(*keys[start : start + 500])


async def bare(url: str, tasks: int) -> dict[str, float]:
    """Two hops and the commit with plain redis-py, in one process."""
    client = aioredis.from_url(url, decode_responses=True)
    prefix = f"bench-bare-{uuid.uuid4().hex[:8]}"
    stream, results, committed = (f"{prefix}:{{b}}:{n}" for n in ("tasks", "results", "done"))
    await client.xgroup_create(stream, "w", id="0", mkstream=True)
    await client.xgroup_create(results, "j", id="0", mkstream=True)
    body = '{"id":"01J0000000000000000000000","tenant":"bench","input":{"text":"t"}}'
    started = time.perf_counter()

    async def produce() -> None:
        made = 0
        while made < tasks:
            async with client.pipeline(transaction=False) as pipe:
                for _ in range(min(BATCH, tasks - made)):
                    pipe.xadd(stream, {"body": body})
                await pipe.execute()
            made += BATCH

    async def work() -> None:
        done = 0
        while done < tasks:
            reply = await client.xreadgroup("w", "c", {stream: ">"}, count=BATCH, block=50)
            for _, entries in reply or []:
                ids = [entry_id for entry_id, _ in entries]
                async with client.pipeline(transaction=False) as pipe:
                    for _ in ids:
                        pipe.xadd(results, {"body": body})
                    pipe.xack(stream, "w", *ids)
                    await pipe.execute()
                done += len(ids)

    async def judge() -> None:
        done = 0
        while done < tasks:
            reply = await client.xreadgroup("j", "c", {results: ">"}, count=BATCH, block=50)
            for _, entries in reply or []:
                ids = [entry_id for entry_id, _ in entries]
                async with client.pipeline(transaction=False) as pipe:
                    for entry_id in ids:
                        pipe.hset(committed, entry_id, body)
                    pipe.xack(results, "j", *ids)
                    await pipe.execute()
                done += len(ids)

    await asyncio.gather(produce(), work(), judge())
    elapsed = time.perf_counter() - started
    await cleanup(client, prefix)
    await client.aclose()
    return {"tasks_per_s": tasks / elapsed}


async def chimera(
    url: str, tasks: int, latency_ms: float, concurrency: int | None = None
) -> dict[str, float]:
    """Tasks through a real `chimera worker` process with the shipped defaults.

    The clock starts once the worker reads its stream (start-up is not the work) and the
    tasks are submitted then, faster than one worker takes them.
    """
    client = aioredis.from_url(url, decode_responses=True)
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    keyspace = Keyspace(prefix)
    with tempfile.TemporaryDirectory() as folder:
        path = write_swarm(Path(folder), latency_ms)
        swarm = load_swarm(path)
        queue = RedisQueue(client, keyspace)
        planner = Planner(swarm, queue, RedisSessionStore(client, keyspace), batch_size=BATCH)
        submissions = [Submission("bench", "bench", {"text": f"t{i}"}) for i in range(tasks)]
        await queue.ensure_groups(["bench"])
        argv = [sys.executable, "-m", "chimera", "worker", str(path), "--redis-url", url]
        argv += ["--prefix", prefix]
        if concurrency is not None:
            argv += ["--concurrency", str(concurrency)]
        worker = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        keys = keyspace.tenant("bench")
        try:
            # Ready once it says so: its first heartbeat (written as it starts working).
            while not await client.hlen(keys.heartbeats):  # noqa: ASYNC110 - polling Redis
                await asyncio.sleep(0.05)
            cpu_before = cpu_seconds(worker.pid)
            started = time.perf_counter()
            await planner.submit(submissions, session="bench")
            peak = 0.0
            while await client.hlen(keys.committed) < tasks:
                peak = max(peak, rss_mb(worker.pid))
                if worker.returncode is not None:
                    raise RuntimeError(f"chimera worker exited with {worker.returncode}")
                await asyncio.sleep(0.02)
            elapsed = time.perf_counter() - started
            cpu = cpu_seconds(worker.pid) - cpu_before
        finally:
            worker.send_signal(signal.SIGTERM)
            await asyncio.wait_for(worker.wait(), timeout=30)
    await cleanup(client, prefix)
    await client.aclose()
    return {
        "tasks_per_s": tasks / elapsed,
        "cpu_us_per_task": cpu / tasks * 1e6,
        "peak_rss_mb": peak,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--tasks", type=int, default=30_000, help="no-op tasks for (a) and (b)")
    parser.add_argument("--quick", action="store_true", help="a tenth of every size")
    args = parser.parse_args()
    scale = 0.1 if args.quick else 1.0
    tasks = int(args.tasks * scale)

    base = await bare(args.redis_url, tasks)
    noop = await chimera(args.redis_url, tasks, 0.0)
    slow_default = await chimera(args.redis_url, int(6_000 * scale), 100.0)
    slow_wide = await chimera(args.redis_url, int(30_000 * scale), 100.0, 1000)

    ratio = noop["tasks_per_s"] / base["tasks_per_s"]
    rows: list[tuple[str, str, str]] = [
        ("bare redis-py: two hops and the commit", f"{base['tasks_per_s']:,.0f} tasks/s", ""),
        (
            "(a) chimera worker, no-op tasks, end to end",
            f"{noop['tasks_per_s']:,.0f} tasks/s",
            f"{ratio:.0%} of bare (target >= 50% and >= 6,000/s)",
        ),
        (
            "(b) worker CPU per task, whole path",
            f"{noop['cpu_us_per_task']:,.0f} us",
            "target <= 150 us",
        ),
        (
            "(c) 100 ms calls, default concurrency (200)",
            f"{slow_default['tasks_per_s']:,.0f} tasks/s",
            f"{slow_default['tasks_per_s'] / 2_000:.0%} of ideal 2,000/s (target >= 90%)",
        ),
        (
            "(c) 100 ms calls, 1,000 slots",
            f"{slow_wide['tasks_per_s']:,.0f} tasks/s",
            f"{slow_wide['tasks_per_s'] / 10_000:.0%} of ideal 10,000/s (target >= 60%)",
        ),
        (
            "(d) worker peak RSS at 1,000 in flight",
            f"{slow_wide['peak_rss_mb']:,.0f} MiB",
            "target <= 150 MiB",
        ),
    ]
    print(f"no-op tasks: {tasks:,}; cpus: {os.cpu_count()}")
    width = max(len(r[0]) for r in rows)
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>16}  {note}")


if __name__ == "__main__":
    asyncio.run(main())
