"""What tracing costs: throughput with tracing off, on at 1 % sampling and on at 100 %.

Prints a table; it is a measurement, not a test. Usage:

    uv run python benchmarks/tracing_overhead.py --redis-url redis://127.0.0.1:6379/0

(a) End to end on a real Redis: the Planner submits N tasks (one PRODUCER span each), a
    Worker runs them on the mock backend at 0 ms (CONSUMER + chat spans) and a Judge commits
    them (CONSUMER + commit spans). Tasks/s until every task is committed, median of the
    rounds, the three modes interleaved so drift hits them alike. Spans go through the SDK's
    BatchSpanProcessor to an exporter that only counts them (the cost of the SDK, not of a
    network).
(b) The instrumentation's own cost while tracing and metrics are off, measured directly:
    every hook a task passes on its way (the ``with`` lines, the ``*_done`` calls, the
    metrics port's no-op calls, the DEBUG checks), timed in a tight loop, as microseconds
    per task and as a share of the per-task time measured in (a). That share is the cost of
    having the instrumentation in the code at all (target: at most 2 %).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
import yaml
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from chimera.config.loader import load_swarm
from chimera.config.swarm import Swarm
from chimera.lib.keys import Keyspace
from chimera.lib.logging import debug_enabled
from chimera.lib.redis_queue import RedisQueue
from chimera.lib.redis_sessions import RedisSessionStore
from chimera.lib.redis_uow import RedisUnitOfWork
from chimera.models.llm import LLMResponse
from chimera.ports.metrics import NO_METRICS
from chimera.ports.queue import Delivery
from chimera.services.audit import FanoutAuditLogger
from chimera.services.judge import Judge, JudgeSettings
from chimera.services.judge_policy import ThresholdPolicy
from chimera.services.mock_backend import MockBackend
from chimera.services.planner import Planner, Submission
from chimera.services.worker import Worker, WorkerSettings
from chimera.services.worker.observe import observed_call
from chimera.telemetry import judge_spans, spans, tracing
from chimera.testing import make_request, make_result, make_task

BATCH = 500


class CountingExporter(SpanExporter):
    """Takes spans and keeps only their number."""

    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def bench_swarm(folder: Path) -> Swarm:
    skill = {
        "name": "bench",
        "backend": "mock",
        "model": "mock-1",
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
        "mock": {"latency_ms": 0, "confidence": 0.95},
    }
    (folder / "skills").mkdir(parents=True, exist_ok=True)
    (folder / "skills" / "bench.yaml").write_text(yaml.safe_dump(skill))
    swarm = {"skills": ["skills/*.yaml"], "tenants": {"bench": {"skills": ["bench"]}}}
    (folder / "swarm.yaml").write_text(yaml.safe_dump(swarm))
    return load_swarm(folder / "swarm.yaml")


async def one_round(url: str, swarm: Swarm, tasks: int, concurrency: int) -> float:
    """Tasks/s from submit to commit, for whatever tracing is switched on now."""
    client = aioredis.from_url(url, decode_responses=True)
    keyspace = Keyspace(f"bench-trace-{uuid.uuid4().hex[:8]}")
    queue = RedisQueue(client, keyspace)
    sessions = RedisSessionStore(client, keyspace)
    audit = FanoutAuditLogger([])
    backend = MockBackend({"bench": swarm.skill("bench").config.mock})
    planner = Planner(swarm, queue, sessions, audit, batch_size=BATCH)
    worker = Worker(
        swarm,
        queue,
        {"mock": backend},
        sessions,
        consumer="bench-worker",
        settings=WorkerSettings(concurrency=concurrency, block_ms=50),
    )
    judge = Judge(
        swarm,
        queue,
        RedisUnitOfWork(client, keyspace),
        {"threshold": ThresholdPolicy()},
        audit,
        consumer="bench-judge",
        settings=JudgeSettings(block_ms=50),
    )
    await queue.ensure_groups(["bench"])
    committed = keyspace.tenant("bench").committed
    stop = asyncio.Event()
    submissions = [Submission("bench", "bench", {"text": f"t{i}"}) for i in range(tasks)]
    started = time.perf_counter()
    loops = [asyncio.create_task(worker.run(stop)), asyncio.create_task(judge.run(stop))]
    await planner.submit(submissions, session="bench")
    while await client.hlen(committed) < tasks:  # noqa: ASYNC110 - polling Redis
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - started
    stop.set()
    await asyncio.gather(*loops)
    keys = [k async for k in client.scan_iter(match=f"{keyspace.prefix}*", count=1000)]
    for start in range(0, len(keys), 500):
        await client.delete(*keys[start : start + 500])
    await client.aclose()
    return tasks / elapsed


def switch(mode: str, exporter: CountingExporter) -> TracerProvider | None:
    """Turn tracing on for ``mode`` (``off``, ``1%``, ``100%``); the provider to shut down."""
    tracing.deactivate()
    if mode == "off":
        return None
    ratio = 0.01 if mode == "1%" else 1.0
    provider = TracerProvider(sampler=ParentBased(TraceIdRatioBased(ratio)))
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=65_536))
    tracing.activate(provider)
    return provider


async def hook_cost(per_task_s: float, loops: int = 200_000) -> tuple[float, float]:
    """Microseconds per task of every hook a task passes while everything is off."""
    tracing.deactivate()
    task = make_task()
    delivery: Delivery[Any] = Delivery("acme", "1-0", task)
    results = [Delivery("acme", "1-0", make_result(task))]
    request = make_request()
    answer = LLMResponse(output={"answer": "4"})

    async def call() -> LLMResponse:
        return answer

    async def apply() -> list[Any]:
        return []

    async def per_task() -> None:
        # The Planner's batch spans, shared by a batch: counted per task as 1/BATCH.
        with spans.process_task(delivery, "w") as span:
            await observed_call(call(), request, "mock", "acme", NO_METRICS, time.perf_counter)
            if span is not None:
                spans.task_settled(span, "publish")
            debug_enabled()
        debug_enabled()
        NO_METRICS.retried("acme", "s", "worker")
        NO_METRICS.task_settled("acme", "s", "committed", 0.1)
        NO_METRICS.verdict("acme", "s", "approve", "threshold")

    async def bare() -> None:
        await call()

    async def judge_batch() -> None:
        with judge_spans.judging(results, "j") as traced:
            await traced.decide(0, apply())
            await traced.commit(apply())

    hooked = await timed(per_task, loops)
    plain = await timed(bare, loops)
    judged = await timed(judge_batch, loops // 10) * 10  # a batch of one each: a bound
    began = time.perf_counter()
    for _ in range(loops // BATCH):
        with spans.Sending([task] * BATCH) as sending:
            sending.sent([])
    with_send = time.perf_counter() - began
    micros = ((hooked - plain) + judged + with_send) / loops * 1e6
    return micros, micros / (per_task_s * 1e6)


async def timed(step: Any, times: int) -> float:
    """Seconds ``times`` awaits of ``step()`` take."""
    began = time.perf_counter()
    for _ in range(times):
        await step()
    return time.perf_counter() - began


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--tasks", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=200)
    args = parser.parse_args()

    exporter = CountingExporter()
    modes = ["off", "1%", "100%"]
    rates: dict[str, list[float]] = {mode: [] for mode in modes}
    with tempfile.TemporaryDirectory() as folder:
        swarm = bench_swarm(Path(folder))
        await one_round(args.redis_url, swarm, min(args.tasks, 1000), args.concurrency)  # warm
        for _ in range(args.rounds):
            for mode in modes:
                provider = switch(mode, exporter)
                rates[mode].append(
                    await one_round(args.redis_url, swarm, args.tasks, args.concurrency)
                )
                if provider is not None:
                    provider.shutdown()
    tracing.deactivate()
    median = {mode: statistics.median(values) for mode, values in rates.items()}
    micros, share = await hook_cost(1.0 / median["off"])

    print(
        f"tasks per round: {args.tasks:,}; rounds: {args.rounds}; worker concurrency: "
        f"{args.concurrency}; spans exported: {exporter.spans:,}"
    )
    print(f"{'(a) tracing':<28}{'tasks/s (median)':>18}  {'vs off':>8}  rounds")
    for mode in modes:
        ratio = median[mode] / median["off"] - 1
        spread = ", ".join(f"{r:,.0f}" for r in rates[mode])
        print(f"{'    ' + mode:<28}{median[mode]:>18,.0f}  {ratio:>+8.1%}  {spread}")
    print(
        f"(b) hooks while off: {micros:.2f} µs per task = {share:.2%} of the "
        f"{1e6 / median['off']:.0f} µs a task takes end to end (target <= 2 %)"
    )


if __name__ == "__main__":
    from chimera.cli.runtime import run_async

    run_async(main())
