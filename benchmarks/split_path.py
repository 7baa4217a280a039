"""Where a task's CPU goes: the whole path split into its steps, beside the bare loop.

Prints a table; it is a measurement, not a test. Usage:

    uv run python benchmarks/split_path.py [--redis-url URL] [--tasks N] [--steps-only]

Two parts, in one invocation so both see the same machine:

- **steps**: each step of one no-op task's way, run in this process on its own (no Redis,
  no event loop traffic), timed over many tasks: decoding the task entry, the Worker's
  attempt (checks, prompt, mock call, Result), the Result's JSON, the Judge's decode of it
  and of the ledger row (both found in the process's ``DecodedCache``, as in a ``chimera
  worker`` running both), its decision with the audit events, the ``JUDGE_APPLY`` call
  built, and the audit chain hashed (the decision and the outcome records). Their sum is
  the Python work a task costs before any I/O.
- **whole path**: a real ``chimera worker`` process (``whole_path.chimera``) and the bare
  redis-py loop doing the same two hops and the commit (``whole_path.bare``), with the CPU
  each spends per task. The gap between the worker's CPU per task and the sum of the steps
  is what the round trips, redis-py and the event loop cost.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import whole_path

from chimera.config.loader import load_swarm
from chimera.lib.decoded import DecodedCache
from chimera.lib.judged import apply_item
from chimera.lib.keys import JUDGE_GROUP, Keyspace
from chimera.lib.lua.judge_scripts import JudgeApply
from chimera.lib.records import audit_record
from chimera.lib.stream_entry import decode_entry
from chimera.models.audit import GENESIS_HASH
from chimera.models.result import Result
from chimera.models.task import Task
from chimera.services.audit import FanoutAuditLogger
from chimera.services.judge import Judge
from chimera.services.judge_events import decision_events, with_outcome_events
from chimera.services.judge_policy import ThresholdPolicy
from chimera.services.mock_backend import MockBackend
from chimera.services.worker.core import Publish
from chimera.services.worker.task_run import TaskRunner
from chimera.testing.fakes.queue import FakeQueue
from chimera.testing.fakes.unit_of_work import FakeUnitOfWork

CONSUMER = "bench-worker"
#: Tasks per chunk: the Worker's default concurrency.
CHUNK = 200


async def steps(count: int) -> list[tuple[str, float]]:
    """Microseconds per task of each step, timed over ``count`` tasks."""
    with tempfile.TemporaryDirectory() as folder:
        swarm = load_swarm(whole_path.write_swarm(Path(folder), 0.0))
    skill = swarm.skill("bench")
    runner = TaskRunner(swarm, {"mock": MockBackend({"bench": skill.config.mock})}, CONSUMER, 5)
    queue = FakeQueue()
    judge = Judge(
        swarm, queue, FakeUnitOfWork(), {"threshold": ThresholdPolicy()}, FanoutAuditLogger([])
    )
    keys = Keyspace("bench").tenant("bench")
    tasks = [
        Task(tenant="bench", session="s1", skill="bench", input={"text": f"t{i}"})
        for i in range(count)
    ]
    bodies = [{b"body": task.model_dump_json().encode()} for task in tasks]
    state: dict[str, list[Any]] = {}
    # What a `chimera worker` process shares between its Worker and its Judge.
    known = DecodedCache()
    known.enable()
    # The inputs made above are not what a Worker holds: out of the collector's way.
    gc.collect()
    gc.freeze()

    async def decode_tasks() -> None:
        state["tasks"] = [
            decode_entry(Task, "bench", f"1-{i}", body, 1, known, keep=True)
            for i, body in enumerate(state["bodies"])
        ]

    async def run_tasks() -> None:
        state["runs"] = [await runner.run(d) for d in state["tasks"]]

    async def result_json() -> None:
        settled = [run.settlement for run in state["runs"]]
        assert all(isinstance(s, Publish) for s in settled)
        results = []
        for s in settled:
            if isinstance(s, Publish):
                body = s.result.model_dump_json()
                known.remember(body, s.result)  # as RedisQueue.complete does
                results.append({b"body": body.encode()})
        state["results"] = results

    async def decode_results() -> None:
        state["deliveries"] = [
            decode_entry(Result, "bench", f"2-{i}", body, 1, known)
            for i, body in enumerate(state["results"])
        ]

    async def ledger_rows() -> None:
        state["ledger"] = [
            known.take(body[b"body"], Task) or Task.model_validate_json(body[b"body"])
            for body in state["bodies"]
        ]

    async def decide() -> None:
        judged = []
        for delivery, task in zip(state["deliveries"], state["ledger"], strict=True):
            item = with_outcome_events(await judge._decide(delivery, task), CONSUMER)
            judged.append(item)
        state["judged"] = judged
        state["decisions"] = [
            [e.stored_json() for e in decision_events(item, CONSUMER)] for item in judged
        ]

    async def apply_calls() -> None:
        calls = [apply_item(item, item.delivery.raw) for item in state["judged"]]
        # One call for the chunk, as RedisUnitOfWork.apply makes it per tenant and session.
        state["calls"] = [JudgeApply.of(keys, "s1").call(group=JUDGE_GROUP, items=calls)]

    async def audit_chain() -> None:
        records = []
        for i, item in enumerate(state["judged"]):
            assert item.events is not None
            records.append((f"d{i}", state["decisions"][i][0]))
            # The sink's string: made when the JUDGE_APPLY call kept the event pending.
            records.append((f"c{i}", item.events.done.stored_json()))
        audit_record.chain(0, GENESIS_HASH, records)

    named: list[tuple[str, Callable[[], Awaitable[None]]]] = [
        ("worker: decode the task entry", decode_tasks),
        ("worker: the attempt (checks, prompt, mock call, Result)", run_tasks),
        ("worker: the Result's JSON", result_json),
        ("judge: decode the Result entry", decode_results),
        ("judge: decode the ledger row", ledger_rows),
        ("judge: decide, decision and outcome events", decide),
        ("judge: JUDGE_APPLY call built (payload, pending events)", apply_calls),
        ("audit: two records chained (SHA-256)", audit_chain),
    ]
    # In chunks of a Worker's batch: a realistic number of live objects (holding every
    # task's state at once would make the garbage collector the largest step). The first
    # chunk warms up (templates, validators, caches) and is not counted.
    # The collector runs between chunks, timed on its own line: left to run when it will,
    # it lands in whichever step crosses its threshold and blurs the split. Young
    # generations only: what a Worker's batch leaves to collect, not the whole heap.
    collect = "garbage collection (young generations), per chunk"
    spent = dict.fromkeys([*(name for name, _ in named), collect], 0.0)
    gc.disable()
    for start in range(0, count + CHUNK, CHUNK):
        chunk = range(start, min(start + CHUNK, count + CHUNK))
        state["bodies"] = [bodies[i % count] for i in chunk]
        for name, step in named:
            began = time.process_time()
            await step()
            if start >= CHUNK:
                spent[name] += time.process_time() - began
        began = time.process_time()
        gc.collect(1)
        if start >= CHUNK:
            spent[collect] += time.process_time() - began
    gc.enable()
    figures = [(name, seconds / count * 1e6) for name, seconds in spent.items()]
    return figures


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--steps-only", action="store_true", help="no Redis: the steps alone")
    args = parser.parse_args()

    figures = await steps(args.tasks)
    rows = [(name, f"{us:7.1f} us") for name, us in figures]
    total = sum(us for _, us in figures)
    rows.append(("sum of the steps (Python work per task, no I/O)", f"{total:7.1f} us"))
    if not args.steps_only:
        began = os.times()
        bare = await whole_path.bare(args.redis_url, args.tasks)
        spent = os.times()
        bare_cpu = (spent.user + spent.system - began.user - began.system) / args.tasks * 1e6
        ours = await whole_path.chimera(args.redis_url, args.tasks, 0.0)
        worker_cpu = ours["cpu_us_per_task"]
        rows += [
            ("whole path: chimera worker process, CPU per task", f"{worker_cpu:7.1f} us"),
            (
                "  of which round trips, redis-py, event loop (the gap)",
                f"{worker_cpu - total:7.1f} us",
            ),
            ("whole path: bare redis-py loop, CPU per task", f"{bare_cpu:7.1f} us"),
            ("chimera worker, no-op tasks end to end", f"{ours['tasks_per_s']:,.0f} /s"),
            ("bare redis-py loop, end to end", f"{bare['tasks_per_s']:,.0f} /s"),
        ]
    print(f"tasks: {args.tasks:,}; cpus: {os.cpu_count()}; load: {os.getloadavg()[0]:.2f}")
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value:>12}")


if __name__ == "__main__":
    from chimera.cli.runtime import run_async

    run_async(main())
