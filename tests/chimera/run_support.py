"""Pipeline runs against the real Redis: a small swarm on the mock backend, and probes.

Every skill takes ``{"text": …}`` (the join takes ``{"parts": […]}``) and answers
``{"text": …}``: the mock makes the text up from a hash of the input, so two different
inputs give two different outputs and a test can follow an output into the next input.
The Judge approves at 0.8: ``work`` and ``gather`` are approved, ``deny`` is denied and
``park`` (sensitive) waits for a human; ``slow`` keeps its Worker busy for a while;
``crash`` fails every attempt and is dead-lettered after the second.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import yaml

from chimera.client import Client
from chimera.lib.keys import Keyspace
from chimera.models.audit import AuditEventType
from chimera.models.pipeline import PipelineRun
from chimera.ports.stores import TaskState
from chimera.services.judge import JudgeSettings
from chimera.services.pipeline import step_task_id
from chimera.services.worker import WorkerSettings
from tests.conftest import REDIS_URL

TEXT = {
    "type": "object",
    "required": ["text"],
    "additionalProperties": False,
    "properties": {"text": {"type": "string"}},
}
PARTS = {
    "type": "object",
    "required": ["parts"],
    "additionalProperties": False,
    "properties": {"parts": {"type": "array", "items": {"type": "string"}}},
}


def _skill(name: str, input_schema: dict[str, Any] = TEXT, **extra: Any) -> dict[str, Any]:
    mock = {"confidence": 0.95, **extra.pop("mock", {})}
    return {
        "name": name,
        "backend": "mock",
        "prompt": "Gather {{ parts | join(' | ') }}" if input_schema is PARTS else "Do {{ text }}",
        "input_schema": input_schema,
        "output_schema": TEXT,
        "retry": {"max_attempts": 2, "backoff_base_s": 0.01, "backoff_max_s": 0.05},
        **extra,
        "mock": mock,
    }


SKILLS = [
    _skill("work"),
    _skill("gather", PARTS),
    _skill("deny", mock={"confidence": 0.1}),
    _skill("park", sensitive=True),
    _skill("slow", mock={"latency_ms": 1500}),
    _skill("crash", mock={"failure_rate": 1.0}),
]

INPUT = {
    "type": "object",
    "required": ["text"],
    "properties": {
        "text": {"type": "string"},
        "flag": {"type": "boolean"},
        "words": {"type": "array", "items": {"type": "string"}},
    },
}


def _steps(**steps: dict[str, Any]) -> dict[str, Any]:
    return steps


def _of(step: str) -> str:
    return f"{{{{ steps.{step}.output.text }}}}"


PIPELINES: dict[str, dict[str, Any]] = {
    "diamond": {
        "steps": _steps(
            a={"skill": "work", "input": {"text": "{{ input.text }}"}},
            b={"skill": "work", "needs": ["a"], "input": {"text": f"b {_of('a')}"}},
            c={"skill": "work", "needs": ["a"], "input": {"text": f"c {_of('a')}"}},
            d={"skill": "gather", "needs": ["b", "c"], "input": {"parts": [_of("b"), _of("c")]}},
        ),
        "output": "d",
    },
    "conditional": {
        "steps": _steps(
            a={"skill": "work", "input": {"text": "{{ input.text }}"}},
            b={"skill": "work", "needs": ["a"], "when": "input.flag", "input": {"text": _of("a")}},
            c={"skill": "work", "needs": ["b"], "input": {"text": _of("b")}},
            d={
                "skill": "work",
                "needs": ["c"],
                "when": "steps.c.status == 'skipped'",
                "input": {"text": "c was {{ steps.c.status }}"},
            },
        ),
        "output": "d",
    },
    "fan": {
        "steps": _steps(
            each={"skill": "work", "for_each": "input.words", "input": {"text": "{{ item }}"}},
            join={
                "skill": "gather",
                "needs": ["each"],
                "input": {"parts": "{{ steps.each.output | map(attribute='text') | list }}"},
            },
        ),
        "output": "join",
    },
    "reviewed": {
        "steps": _steps(
            draft={"skill": "park", "input": {"text": "{{ input.text }}"}},
            send={"skill": "work", "needs": ["draft"], "input": {"text": _of("draft")}},
        ),
        "output": "send",
    },
    "failing": {
        "steps": _steps(
            a={"skill": "work", "input": {"text": "{{ input.text }}"}},
            bad={"skill": "deny", "needs": ["a"], "input": {"text": _of("a")}},
            after={"skill": "work", "needs": ["bad"], "input": {"text": _of("bad")}},
            last={"skill": "work", "needs": ["after"], "input": {"text": _of("after")}},
        ),
        "output": "last",
    },
    "crashing": {
        "steps": _steps(
            a={"skill": "work", "input": {"text": "{{ input.text }}"}},
            boom={"skill": "crash", "needs": ["a"], "input": {"text": _of("a")}},
            after={"skill": "work", "needs": ["boom"], "input": {"text": _of("boom")}},
        ),
        "output": "after",
    },
    "branches": {
        "steps": _steps(
            bad={"skill": "deny", "input": {"text": "{{ input.text }}"}},
            side={"skill": "park", "input": {"text": "{{ input.text }}"}},
            join={"skill": "work", "needs": ["bad", "side"], "input": {"text": _of("side")}},
        ),
        "output": "join",
    },
    "chain": {
        "steps": _steps(
            first={"skill": "work", "input": {"text": "{{ input.text }}"}},
            second={"skill": "work", "needs": ["first"], "input": {"text": _of("first")}},
        ),
        "output": "second",
    },
    "slow_chain": {
        "steps": _steps(
            first={"skill": "slow", "input": {"text": "{{ input.text }}"}},
            second={"skill": "work", "needs": ["first"], "input": {"text": _of("first")}},
        ),
        "output": "second",
    },
    "parked_chain": {
        "steps": _steps(
            first={"skill": "park", "input": {"text": "{{ input.text }}"}},
            second={"skill": "work", "needs": ["first"], "input": {"text": _of("first")}},
        ),
        "output": "second",
    },
}


def write_run_swarm(folder: Path) -> Path:
    """Write the skills and a swarm with :data:`PIPELINES` for tenant ``acme``."""
    (folder / "skills").mkdir(parents=True, exist_ok=True)
    for body in SKILLS:
        (folder / "skills" / f"{body['name']}.yaml").write_text(yaml.safe_dump(body))
    swarm = {
        "version": 1,
        "name": "runs",
        "skills": ["skills/*.yaml"],
        "tenants": {"acme": {"skills": [body["name"] for body in SKILLS]}},
        "judge": {"policy": "threshold", "approve_at": 0.8, "review_at": 0.5},
        "audit": {"sinks": ["redis"]},
        "pipelines": {
            name: {"input_schema": INPUT, **pipeline} for name, pipeline in PIPELINES.items()
        },
    }
    path = folder / "swarm.yaml"
    path.write_text(yaml.safe_dump(swarm, sort_keys=False))
    return path


@asynccontextmanager
async def connected(folder: Path, keyspace: Keyspace) -> AsyncIterator[Client]:
    """A client of :func:`write_run_swarm`'s swarm (written in ``folder``) on the test's keys."""
    path = write_run_swarm(folder)
    async with Client.from_swarm(path, REDIS_URL, prefix=keyspace.prefix, actor="app") as c:
        yield c


@asynccontextmanager
async def serving(
    client: Client, sweep_s: float = 0.1, advance_runs: bool = True
) -> AsyncIterator[None]:
    """A Worker and a Judge like ``client.serve()``, with a run sweep every ``sweep_s``.

    For what only the sweep notices (a human's decision, a resumed session) without
    waiting the two seconds of the default. Without ``advance_runs`` the Judge commits
    but never advances a run: a Judge that died right after its commit.
    """
    runtime = client.runtime
    stop = asyncio.Event()
    worker = runtime.worker(
        None, WorkerSettings(concurrency=100, block_ms=50, halted_recheck_s=0.1)
    )
    judge = runtime.judge(None, settings=JudgeSettings(block_ms=50, run_sweep_every_s=sweep_s))
    if not advance_runs:
        judge.runs = None
    loops = [asyncio.create_task(worker.run(stop)), asyncio.create_task(judge.run(stop))]
    try:
        yield
    finally:
        stop.set()
        for failure in await asyncio.gather(*loops, return_exceptions=True):
            if isinstance(failure, Exception):
                raise failure


async def start_until_review(
    client: Client, pipeline: str, step: str, text: str = "x"
) -> tuple[PipelineRun, str]:
    """Start a run of ``pipeline`` and wait until ``step``'s task waits for review.

    Returns:
        The run as started and the id of that task.
    """
    run = await client.runs.start("acme", pipeline, {"text": text})
    task_id = step_task_id(run.id, step)
    outcome = await client.wait(task_id, tenant="acme", timeout_s=10)
    assert outcome.state is TaskState.REVIEW, outcome
    return run, task_id


class Probe:
    """Reads what execution left in Redis for tenant ``acme``."""

    def __init__(self, redis: aioredis.Redis, keyspace: Keyspace) -> None:
        self.redis = redis
        self.keys = keyspace.tenant("acme")

    async def session_tasks(self, run: PipelineRun) -> set[str]:
        """Ids of every task enqueued into the run's session."""
        return {str(m) for m in await self.redis.smembers(self.keys.session_tasks(run.session))}

    async def active(self) -> set[str]:
        """Ids of the runs the sweep still looks at."""
        return {str(m) for m in await self.redis.smembers(self.keys.runs_active)}

    async def submitted(self, run: PipelineRun) -> int:
        """The session's ``submitted`` counter."""
        return int(await self.redis.hget(self.keys.session(run.session), "submitted") or 0)

    async def committed(self, task_id: str) -> dict[str, Any]:
        """The committed Result of ``task_id`` (as JSON)."""
        body = await self.redis.hget(self.keys.committed, task_id)
        assert body is not None, f"task {task_id} was not committed"
        found: dict[str, Any] = json.loads(body)
        return found

    async def task_body(self, task_id: str) -> dict[str, Any] | None:
        """The enqueued Task of ``task_id`` from the ledger (``None`` once settled)."""
        body = await self.redis.hget(self.keys.ledger, task_id)
        return None if body is None else dict(json.loads(body))

    async def trail(self, client: Client) -> list[Any]:
        """Every event of ``acme``'s audit trail; asserts the hash chain verifies."""
        check = await client.runtime.audit_trail().read("acme", verify=True)
        assert check.ok, check.problem
        return [record.event for record in check.records]


def count_events(events: list[Any], kind: AuditEventType) -> Counter[str]:
    """How many events of ``kind`` each task id (or run id for run events) has."""
    return Counter(e.task_id or e.data.get("run") for e in events if e.type is kind)


# -- fixtures the pipeline test modules share (imported there by name) ---------------
@pytest.fixture
async def client(tmp_path: Path, keyspace: Keyspace, real_redis: aioredis.Redis) -> Any:
    async with connected(tmp_path, keyspace) as c:
        yield c


@pytest.fixture
def probe(real_redis: aioredis.Redis, keyspace: Keyspace) -> Probe:
    return Probe(real_redis, keyspace)
