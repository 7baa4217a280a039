"""Throughput of the Planner → Worker path on a real Redis, beside a bare redis-py loop.

Prints a table; it is a measurement, not a test. Usage:

    uv run python benchmarks/throughput.py --redis-url redis://127.0.0.1:6379/0 [--tasks N]

(a) end-to-end tasks/s with the mock backend at zero latency vs. a bare loop doing the same
    stream work (XADD batch, XREADGROUP batch, XADD result, XACK), and their ratio;
(b) Worker tasks/s with 100 ms simulated latency at concurrency 1000 (queue filled first)
    vs. the ideal slots / latency;
(c) Redis commands per task during (a), from INFO commandstats.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
import yaml

from chimera.config.loader import load_swarm
from chimera.config.swarm import Swarm
from chimera.lib.keys import Keyspace
from chimera.lib.redis_queue import RedisQueue
from chimera.lib.redis_sessions import RedisSessionStore
from chimera.services.audit import FanoutAuditLogger
from chimera.services.mock_backend import MockBackend
from chimera.services.planner import Planner, Submission
from chimera.services.worker import Worker, WorkerSettings

BATCH = 500


def bench_swarm(folder: Path, latency_ms: float) -> Swarm:
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
        "mock": {"latency_ms": latency_ms},
    }
    (folder / "skills").mkdir(parents=True, exist_ok=True)
    (folder / "skills" / "bench.yaml").write_text(yaml.safe_dump(skill))
    swarm = {"skills": ["skills/*.yaml"], "tenants": {"bench": {"skills": ["bench"]}}}
    (folder / "swarm.yaml").write_text(yaml.safe_dump(swarm))
    return load_swarm(folder / "swarm.yaml")


async def command_calls(client: aioredis.Redis) -> int:
    stats = await client.info("commandstats")
    return sum(
        int(v["calls"])
        for k, v in stats.items()
        if k.startswith("cmdstat_") and not k.startswith(("cmdstat_info", "cmdstat_ping"))
    )


async def cleanup(client: aioredis.Redis, prefix: str) -> None:
    keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
    for start in range(0, len(keys), 500):
        await client.delete(*keys[start : start + 500])


async def wait_for_results(client: aioredis.Redis, key: str, count: int) -> None:
    """Poll the result stream's length; cheap next to the work being measured."""
    while await client.xlen(key) < count:  # noqa: ASYNC110 - polling Redis, not local state
        await asyncio.sleep(0.005)


async def chimera_run(
    url: str, tasks: int, latency_ms: float, concurrency: int, prefill: bool = False
) -> dict[str, Any]:
    """Tasks/s through chimera.

    With ``prefill`` the Planner enqueues everything before the clock starts, so the
    figure is the Worker's alone (how well it keeps ``concurrency`` calls in flight).
    """
    client = aioredis.from_url(url, decode_responses=True)
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    keyspace = Keyspace(prefix)
    with tempfile.TemporaryDirectory() as folder:
        swarm = bench_swarm(Path(folder), latency_ms)
        queue = RedisQueue(client, keyspace)
        sessions = RedisSessionStore(client, keyspace)
        backend = MockBackend({"bench": swarm.skill("bench").config.mock})
        planner = Planner(swarm, queue, sessions, FanoutAuditLogger([]), batch_size=BATCH)
        worker = Worker(
            swarm,
            queue,
            {"mock": backend},
            consumer="bench-worker",
            settings=WorkerSettings(concurrency=concurrency, block_ms=50),
        )
        await queue.ensure_groups(["bench"])
        results_key = keyspace.tenant("bench").results
        stop = asyncio.Event()
        submissions = [Submission("bench", "bench", {"text": f"t{i}"}) for i in range(tasks)]
        if prefill:
            await planner.submit(submissions, session="bench")
        before = await command_calls(client)
        started = time.perf_counter()
        runner = asyncio.create_task(worker.run(stop))
        if not prefill:
            await planner.submit(submissions, session="bench")
        await wait_for_results(client, results_key, tasks)
        elapsed = time.perf_counter() - started
        stop.set()
        await runner
        after = await command_calls(client)
    await cleanup(client, prefix)
    await client.aclose()
    return {
        "tasks_per_s": tasks / elapsed,
        "elapsed_s": elapsed,
        "commands_per_task": (after - before) / tasks,
    }


async def bare_loop(url: str, tasks: int) -> dict[str, Any]:
    """The same stream work with nothing else: no models, no validation, no backend."""
    client = aioredis.from_url(url, decode_responses=True)
    prefix = f"bench-bare-{uuid.uuid4().hex[:8]}"
    stream, results = f"{prefix}:{{b}}:tasks", f"{prefix}:{{b}}:results"
    await client.xgroup_create(stream, "g", id="0", mkstream=True)
    body = '{"id":"x","tenant":"bench","input":{"text":"t"}}'
    started = time.perf_counter()
    produced = 0

    async def produce() -> None:
        nonlocal produced
        while produced < tasks:
            async with client.pipeline(transaction=False) as pipe:
                for _ in range(min(BATCH, tasks - produced)):
                    pipe.xadd(stream, {"body": body})
                await pipe.execute()
            produced += BATCH

    async def consume() -> None:
        done = 0
        while done < tasks:
            reply = await client.xreadgroup("g", "c", {stream: ">"}, count=BATCH, block=50)
            for _, entries in reply or []:
                ids = [entry_id for entry_id, _ in entries]
                async with client.pipeline(transaction=False) as pipe:
                    for _ in ids:
                        pipe.xadd(results, {"body": body})
                    pipe.xack(stream, "g", *ids)
                    await pipe.execute()
                done += len(ids)

    await asyncio.gather(produce(), consume())
    elapsed = time.perf_counter() - started
    await cleanup(client, prefix)
    await client.aclose()
    return {"tasks_per_s": tasks / elapsed, "elapsed_s": elapsed}


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--latency-tasks", type=int, default=30_000)
    parser.add_argument("--concurrency", type=int, default=200)
    args = parser.parse_args()

    bare = await bare_loop(args.redis_url, args.tasks)
    ours = await chimera_run(args.redis_url, args.tasks, 0.0, args.concurrency)
    slow = await chimera_run(args.redis_url, args.latency_tasks, 100.0, 1000, prefill=True)
    ideal = 1000 / 0.100

    rows = [
        ("(a) bare redis-py stream loop", f"{bare['tasks_per_s']:,.0f} tasks/s", ""),
        (
            "(a) chimera Planner -> Worker, 0 ms",
            f"{ours['tasks_per_s']:,.0f} tasks/s",
            f"{ours['tasks_per_s'] / bare['tasks_per_s']:.0%} of bare (target >= 50%)",
        ),
        (
            "(b) chimera Worker, 100 ms latency, 1000 slots",
            f"{slow['tasks_per_s']:,.0f} tasks/s",
            f"{slow['tasks_per_s'] / ideal:.0%} of ideal {ideal:,.0f}/s (target >= 90%)",
        ),
        (
            "(c) Redis commands per task during (a)",
            f"{ours['commands_per_task']:.2f}",
            "batched: no per-task round trip",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    print(
        f"tasks: {args.tasks:,} (a), {args.latency_tasks:,} (b); worker concurrency (a): "
        f"{args.concurrency}"
    )
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>18}  {note}")


if __name__ == "__main__":
    from chimera.cli.runtime import run_async

    run_async(main())  # the same event loop `chimera run` and `chimera worker` use
