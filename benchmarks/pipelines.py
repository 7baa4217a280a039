"""Pipeline steps per second beside single tasks of the same skill, in one process.

Prints a table; it is a measurement, not a test. Usage:

    uv run python benchmarks/pipelines.py [--redis-url URL] [--steps N] [--latency-ms MS] [--quick]

Without ``--redis-url`` everything runs on the embedded in-process Redis. A Worker and a
Judge run in this process (``Client.serve``, concurrency 200), on a one-tenant swarm whose
skill is on the mock backend (no latency unless ``--latency-ms``):

- **single**: N tasks of the skill submitted at once (``client.submit_many``), timed from
  the submit to the last commit;
- **chain**: N/3 runs of a 3-step chain ``a -> b -> c`` started at once
  (``client.runs.start``, 50 at a time), timed until no run is active;
- **fan-out**: N/101 runs of one step fanned out over 100 items and a join, likewise.

Each figure is steps (committed tasks) per second. Then the same shapes one at a time,
for latency: one task, one chain, one fan-out, each started once the one before ended.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import yaml

from chimera.client import Client
from chimera.lib.keys import Keyspace

TENANT = "bench"
FAN = 100
#: Runs started concurrently: redis-py's async pool refuses (not waits) past 100 connections.
START_BATCH = 50

PIPELINES = {
    "chain": {
        "input_schema": {
            "type": "object",
            "required": ["text"],
            "properties": {"text": {"type": "string"}},
        },
        "steps": {
            "a": {"skill": "step", "input": {"text": "{{ input.text }}"}},
            "b": {"skill": "step", "needs": ["a"], "input": {"text": "{{ steps.a.output.text }}"}},
            "c": {"skill": "step", "needs": ["b"], "input": {"text": "{{ steps.b.output.text }}"}},
        },
        "output": "c",
    },
    "fan": {
        "input_schema": {
            "type": "object",
            "required": ["items"],
            "properties": {"items": {"type": "array", "items": {"type": "string"}}},
        },
        "steps": {
            "each": {"skill": "step", "for_each": "input.items", "input": {"text": "{{ item }}"}},
            "join": {
                "skill": "gather",
                "needs": ["each"],
                "input": {"parts": "{{ steps.each.output | map(attribute='text') | list }}"},
            },
        },
        "output": "join",
    },
}


def write_swarm(folder: Path, latency_ms: float) -> Path:
    """A swarm with the skills ``step`` and ``gather`` and the pipelines ``chain``, ``fan``."""
    text = {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}
    mock = {"latency_ms": latency_ms, "confidence": 0.95}
    skills = [
        {"name": "step", "prompt": "Do {{ text }}", "input_schema": text, "output_schema": text},
        {
            "name": "gather",
            "prompt": "Join {{ parts }}",
            "input_schema": {
                "type": "object",
                "required": ["parts"],
                "properties": {"parts": {"type": "array", "items": {"type": "string"}}},
            },
            "output_schema": text,
        },
    ]
    (folder / "skills").mkdir(parents=True, exist_ok=True)
    for skill in skills:
        body = {**skill, "backend": "mock", "mock": mock}
        (folder / "skills" / f"{skill['name']}.yaml").write_text(yaml.safe_dump(body))
    swarm = {
        "version": 1,
        "skills": ["skills/*.yaml"],
        "tenants": {TENANT: {"skills": ["step", "gather"]}},
        "pipelines": PIPELINES,
    }
    path = folder / "swarm.yaml"
    path.write_text(yaml.safe_dump(swarm, sort_keys=False))
    return path


def run_input(kind: str, n: int) -> dict[str, Any]:
    """The input of run ``n`` of pipeline ``kind``."""
    if kind == "fan":
        return {"items": [f"item {n}.{i}" for i in range(FAN)]}
    return {"text": f"run {n}"}


class Bench:
    """One connected client with a Worker and a Judge serving it, on a fresh prefix."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.keys = Keyspace(client.prefix).tenant(TENANT)

    async def committed(self) -> int:
        """How many tasks have committed so far."""
        return int(await self.client.runtime.client.hlen(self.keys.committed))

    async def active_runs(self) -> int:
        """How many runs are not finished."""
        return int(await self.client.runtime.client.scard(self.keys.runs_active))

    async def until(self, done: Callable[[], Awaitable[bool]], timeout_s: float = 600) -> None:
        """Poll ``done`` every 5 ms (cheap next to the work measured)."""
        deadline = time.monotonic() + timeout_s
        while not await done():
            if time.monotonic() > deadline:
                raise TimeoutError("the benchmark did not finish")
            await asyncio.sleep(0.005)

    async def singles(self, count: int) -> float:
        """Seconds for ``count`` tasks, submitted at once, to commit."""
        before = await self.committed()
        started = time.perf_counter()
        await self.client.submit_many(
            [{"tenant": TENANT, "skill": "step", "input": {"text": f"t{i}"}} for i in range(count)]
        )
        await self.until(lambda: self._reached(before + count))
        return time.perf_counter() - started

    async def runs(self, kind: str, count: int) -> float:
        """Seconds for ``count`` runs of ``kind``, started at once, to finish."""
        started = time.perf_counter()
        for first in range(0, count, START_BATCH):
            await asyncio.gather(
                *(
                    self.client.runs.start(TENANT, kind, run_input(kind, n))
                    for n in range(first, min(count, first + START_BATCH))
                )
            )
        await self.until(self._no_active_run)
        return time.perf_counter() - started

    async def _reached(self, count: int) -> bool:
        return await self.committed() >= count

    async def _no_active_run(self) -> bool:
        return await self.active_runs() == 0


async def measure(url: str | None, steps: int, latency_ms: float, alone: int) -> dict[str, Any]:
    """Every figure, each shape on its own prefix, with one client serving them all."""
    with tempfile.TemporaryDirectory() as folder:
        path = write_swarm(Path(folder), latency_ms)
        figures: dict[str, Any] = {}
        chains, fans = max(1, steps // 3), max(1, steps // (FAN + 1))
        shapes: list[tuple[str, int, int]] = [
            ("single", steps, steps),
            ("chain", chains, 3 * chains),
            ("fan", fans, (FAN + 1) * fans),
        ]
        for kind, count, step_count in shapes:
            prefix = f"bench-pipe-{uuid.uuid4().hex[:8]}"
            client = Client.from_swarm(path, url, prefix=prefix, embedded=url is None)
            async with client:
                bench = Bench(client)
                async with client.serve(concurrency=200):
                    figures[kind] = await _shape(bench, kind, count, step_count, alone)
                await _cleanup(client, prefix)
    return figures


async def _shape(
    bench: Bench, kind: str, count: int, step_count: int, alone: int
) -> dict[str, float]:
    """Throughput of ``count`` of one shape at once, then the latency of one alone."""
    await _one(bench, kind)  # warm up: imports, scripts loaded, groups made
    if kind == "single":
        seconds = await bench.singles(count)
    else:
        seconds = await bench.runs(kind, count)
    lat = [await _timed(_one(bench, kind)) for _ in range(alone)]
    each = step_count // count
    assert await bench.committed() == each * (1 + count + alone), "steps missing"
    return {
        "count": count,
        "steps": step_count,
        "steps_per_s": step_count / seconds,
        "alone_ms": statistics.median(lat) * 1000,
    }


async def _one(bench: Bench, kind: str) -> None:
    if kind == "single":
        await bench.singles(1)
    else:
        await bench.runs(kind, 1)


async def _timed(work: Awaitable[None]) -> float:
    started = time.perf_counter()
    await work
    return time.perf_counter() - started


async def _cleanup(client: Client, prefix: str) -> None:
    redis = client.runtime.client
    keys = [key async for key in redis.scan_iter(match=f"{prefix}:*", count=1000)]
    for start in range(0, len(keys), 500):
        await redis.delete(*keys[start : start + 500])


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--redis-url", default=None, help="default: the embedded Redis")
    parser.add_argument("--steps", type=int, default=6_060, help="steps per shape")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="mock call latency")
    parser.add_argument("--alone", type=int, default=10, help="one-at-a-time repetitions")
    parser.add_argument("--quick", action="store_true", help="a tenth of the steps")
    args = parser.parse_args()
    steps = max(FAN + 1, int(args.steps * (0.1 if args.quick else 1.0)))
    figures = await measure(args.redis_url, steps, args.latency_ms, args.alone)

    base = figures["single"]["steps_per_s"]
    names = {
        "single": "single tasks",
        "chain": "3-step chain a -> b -> c",
        "fan": f"fan-out of {FAN} + join",
    }
    rows = [("", "runs", "steps", "steps/s", "vs single", "one alone")]
    for kind, name in names.items():
        got = figures[kind]
        count = "-" if kind == "single" else f"{got['count']:,}"
        rows.append(
            (
                name,
                count,
                f"{got['steps']:,}",
                f"{got['steps_per_s']:,.0f}",
                f"{got['steps_per_s'] / base:.0%}",
                f"{got['alone_ms']:,.1f} ms",
            )
        )
    where = args.redis_url or "embedded Redis"
    print(f"{where}; mock latency {args.latency_ms:g} ms; concurrency 200; cpus {os.cpu_count()}")
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        print("  ".join(cells))


if __name__ == "__main__":
    asyncio.run(main())
