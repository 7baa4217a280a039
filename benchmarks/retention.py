"""Redis memory over a long run, with retention on and without: flat once retention applies.

Prints the series of samples and a summary; it is a measurement, not a test. Usage:

    uv run python benchmarks/retention.py [--redis-url URL] [--tasks N] [--baseline-tasks M]

The default (100,000 tasks with retention, 20,000 without) takes a few minutes on a 2-core
machine; the long run the issue asks for is ``--tasks 1000000`` (about fifteen minutes at
~1,200 tasks/s).

What runs, in one invocation so both sides see the same machine and Redis:

- a real ``chimera worker SWARM`` process (Worker and Judge, the shipped defaults, audit
  sinks ``log`` and ``redis``) and a one-skill swarm on the mock backend;
- this process submits tasks through the Planner, in sessions of 500, keeping about
  ``--window`` tasks not yet settled (the ledger) so the run is long and steady rather
  than one huge backlog;
- every ``--sample-every`` settled tasks it reads ``INFO memory`` ``used_memory`` (the whole
  server: other processes' keys move it too) and ``MEMORY USAGE`` of each of the run's own
  keys, and prints both above the run's start, with the run's own bytes per task so far.

Runs, in order: **baseline** (no ``retention:`` block: today's keep-everything default;
memory grows by a few KB per task), then **retention** (the block below, swept by the
worker every 2 s). The summary gives, for each run, the growth over the second half of the
run in bytes per task: about zero once retention applies.
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
from typing import Any

import redis.asyncio as aioredis
import yaml

from chimera.config.loader import load_swarm
from chimera.lib.keys import Keyspace
from chimera.lib.redis_queue import RedisQueue
from chimera.lib.redis_sessions import RedisSessionStore
from chimera.services.planner import Planner, Submission

SESSION = 500

#: The policy of the retention run: counts, so the plateau comes within the first minute.
RETENTION: dict[str, Any] = {
    "sweep_every": "2s",
    "committed": {"max_count": 10_000},
    "settled": {"max_count": 10_000},
    "sessions": {"max_count": 50},
    "dead_letters": {"max_count": 1_000},
    "audit": {"max_count": 20_000},
}


def write_swarm(folder: Path, retention: dict[str, Any] | None) -> Path:
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
        "mock": {"confidence": 0.95},
    }
    (folder / "skills").mkdir(parents=True, exist_ok=True)
    (folder / "skills" / "bench.yaml").write_text(yaml.safe_dump(skill))
    swarm: dict[str, Any] = {
        "skills": ["skills/*.yaml"],
        "tenants": {"bench": {"skills": ["bench"]}},
    }
    if retention is not None:
        swarm["retention"] = retention
    path = folder / "swarm.yaml"
    path.write_text(yaml.safe_dump(swarm))
    return path


async def used_memory(client: aioredis.Redis) -> int:
    """The server's ``used_memory``: everything in it, other users' keys included."""
    return int((await client.info("memory"))["used_memory"])


async def keys_memory(client: aioredis.Redis, prefix: str) -> int:
    """``MEMORY USAGE`` summed over this run's keys: immune to other users of the server."""
    total = 0
    async for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        total += int(await client.memory_usage(key) or 0)
    return total


async def cleanup(client: aioredis.Redis, prefix: str) -> None:
    keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=1000)]
    for start in range(0, len(keys), 500):
        await client.delete(*keys[start : start + 500])


async def run(
    url: str, tasks: int, retention: dict[str, Any] | None, window: int, sample_every: int
) -> list[tuple[int, float, int]]:
    """Run ``tasks`` through a worker process; return samples (settled, seconds, own bytes)."""
    client = aioredis.from_url(url, decode_responses=True)
    prefix = f"bench-ret-{uuid.uuid4().hex[:8]}"
    keyspace = Keyspace(prefix)
    keys = keyspace.tenant("bench")
    samples: list[tuple[int, float, int]] = []
    label = "retention" if retention is not None else "baseline"
    with tempfile.TemporaryDirectory() as folder:
        path = write_swarm(Path(folder), retention)
        swarm = load_swarm(path)
        queue = RedisQueue(client, keyspace)
        planner = Planner(swarm, queue, RedisSessionStore(client, keyspace), batch_size=SESSION)
        await queue.ensure_groups(["bench"])
        argv = [sys.executable, "-m", "chimera", "worker", str(path), "--redis-url", url]
        argv += ["--prefix", prefix]
        worker = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        try:
            while not await client.hlen(keys.heartbeats):  # noqa: ASYNC110 - polling Redis
                await asyncio.sleep(0.05)
            start_memory = await used_memory(client)
            start_own = await keys_memory(client, prefix)
            started = time.perf_counter()
            submitted, settled, next_sample = 0, 0, 0
            print(f"[{label}]  settled  seconds  used_memory_MB  own_keys_MB  own_B/task")
            while settled < tasks:
                if worker.returncode is not None:
                    raise RuntimeError(f"chimera worker exited with {worker.returncode}")
                live = int(await client.hlen(keys.ledger))
                settled = submitted - live
                if submitted < tasks and live < window:
                    n = min(SESSION, tasks - submitted)
                    session = f"s{submitted // SESSION}"
                    batch = [
                        Submission("bench", "bench", {"text": f"t{submitted + i}"})
                        for i in range(n)
                    ]
                    await planner.submit(batch, session=session)
                    submitted += n
                    continue
                if settled >= next_sample:
                    samples.append(
                        await sample(
                            client, prefix, label, settled, started, start_memory, start_own
                        )
                    )
                    next_sample += sample_every
                await asyncio.sleep(0.02)
            samples.append(
                await sample(client, prefix, label, settled, started, start_memory, start_own)
            )
        finally:
            worker.send_signal(signal.SIGTERM)
            await asyncio.wait_for(worker.wait(), timeout=60)
    await cleanup(client, prefix)
    await client.aclose()
    return samples


async def sample(
    client: aioredis.Redis,
    prefix: str,
    label: str,
    settled: int,
    started: float,
    start_memory: int,
    start_own: int,
) -> tuple[int, float, int]:
    """Print one sample line; return (settled, seconds, own bytes above the start)."""
    server = await used_memory(client) - start_memory
    own = await keys_memory(client, prefix) - start_own
    elapsed = time.perf_counter() - started
    per_task = own / settled if settled else 0.0
    print(
        f"[{label}] {settled:>8,} {elapsed:>8.1f} {server / 1e6:>15.1f} {own / 1e6:>12.1f} "
        f"{per_task:>11,.0f}",
        flush=True,
    )
    return settled, elapsed, own


def second_half_slope(samples: list[tuple[int, float, int]]) -> float:
    """Bytes per task the run's own keys grew by over the second half of the run."""
    end = samples[-1]
    middle = min(samples, key=lambda s: abs(s[0] - end[0] / 2))
    return (end[2] - middle[2]) / max(1, end[0] - middle[0])


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--tasks", type=int, default=100_000, help="tasks with retention on")
    parser.add_argument(
        "--baseline-tasks", type=int, default=20_000, help="tasks without retention (0: skip)"
    )
    parser.add_argument("--window", type=int, default=4_000, help="tasks kept in flight")
    parser.add_argument("--sample-every", type=int, default=0, help="tasks between samples")
    args = parser.parse_args()

    def every(n: int) -> int:
        return args.sample_every or max(1_000, n // 40)

    baseline = []
    if args.baseline_tasks:
        baseline = await run(
            args.redis_url, args.baseline_tasks, None, args.window, every(args.baseline_tasks)
        )
    kept = await run(args.redis_url, args.tasks, RETENTION, args.window, every(args.tasks))
    print(f"\ncpus: {os.cpu_count()}; retention policy: {RETENTION}")
    if baseline:
        end = baseline[-1]
        print(
            f"baseline  (keep everything): {end[0]:,} tasks in {end[1]:.0f} s, "
            f"+{end[2] / 1e6:.1f} MB, {end[2] / end[0]:,.0f} B/task overall, "
            f"{second_half_slope(baseline):,.0f} B/task over the second half"
        )
    end = kept[-1]
    peak = max(s[2] for s in kept)
    print(
        f"retention: {end[0]:,} tasks in {end[1]:.0f} s ({end[0] / end[1]:,.0f}/s), "
        f"+{end[2] / 1e6:.1f} MB at the end, peak +{peak / 1e6:.1f} MB, "
        f"{second_half_slope(kept):,.1f} B/task over the second half"
    )


if __name__ == "__main__":
    asyncio.run(main())
