"""Pipeline runs under SIGKILL chaos, with real ``chimera worker`` processes on real Redis.

Three pipelines (a diamond, a fan-out of 50 with its join, and a condition that skips a
branch) run several times each while random workers are killed and restarted. Every run
must succeed, every step task must be enqueued once and committed once, and the audit
trail must verify with each run's ``run_started`` and ``run_finished`` in it.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import yaml

from chimera.client import Client
from chimera.lib.keys import JUDGE_GROUP, WORKER_GROUP, Keyspace
from chimera.lib.redis_audit import RedisAuditSink, RedisAuditTrail
from chimera.lib.redis_pending_audit import RedisPendingAudit
from chimera.lib.redis_sessions import RedisSessionStore
from chimera.models.pipeline import PipelineRun, RunState, StepState
from chimera.services.audit import FanoutAuditLogger
from chimera.services.audit_sweep import AuditSweep
from chimera.services.pipeline.runs import step_task_id
from tests.chimera.integration.test_cluster_processes import spread_tenants
from tests.chimera.integration.test_crash_recovery import SEED, Fleet
from tests.conftest import REDIS_URL

pytestmark = [pytest.mark.redis, pytest.mark.slow]

TENANTS = ("acme", "globex")
FAN = 50
#: Runs of each pipeline per tenant.
RUNS = {"diamond": 4, "fan": 3, "cond": 6}
MAX_KILLS = 12
RUN_EVENTS = ("run_started", "step_enqueued", "run_finished")

_TEXT_IN = {
    "type": "object",
    "required": ["text"],
    "additionalProperties": False,
    "properties": {"text": {"type": "string"}},
}
_MOCK = {"latency_ms": 80, "latency_jitter_ms": 250, "confidence": 0.95}
_RETRY = {"max_attempts": 5, "backoff_base_s": 0.05, "backoff_max_s": 0.5}
SKILLS: list[dict[str, Any]] = [
    {
        "name": "work",
        "prompt": "Work on {{ text }}",
        "input_schema": _TEXT_IN,
        "output_schema": {
            "type": "object",
            "required": ["text", "category"],
            "properties": {"text": {"type": "string"}, "category": {"enum": ["a", "b"]}},
        },
        "retry": _RETRY,
        "mock": _MOCK,
    },
    {
        "name": "split",
        "prompt": "Split {{ text }}",
        "input_schema": _TEXT_IN,
        "output_schema": {
            "type": "object",
            "required": ["items"],
            "properties": {"items": {"type": "array", "items": {"type": "string"}}},
        },
        "retry": _RETRY,
        "mock": {**_MOCK, "output": {"items": [f"part {i}" for i in range(FAN)]}},
    },
    {
        "name": "gather",
        "prompt": "Gather {{ parts }}",
        "input_schema": {
            "type": "object",
            "required": ["parts"],
            "properties": {"parts": {"type": "array", "items": {"type": "string"}}},
        },
        "output_schema": {
            "type": "object",
            "required": ["text"],
            "properties": {"text": {"type": "string"}},
        },
        "retry": _RETRY,
        "mock": _MOCK,
    },
]

PIPELINES = """\
diamond:
  input_schema: {type: object, required: [text], properties: {text: {type: string}}}
  steps:
    a: {skill: work, input: {text: "{{ input.text }}"}}
    b: {skill: work, needs: [a], input: {text: "b {{ steps.a.output.text }}"}}
    c: {skill: work, needs: [a], input: {text: "c {{ steps.a.output.text }}"}}
    d:
      skill: work
      needs: [b, c]
      input: {text: "{{ steps.b.output.text }} {{ steps.c.output.text }}"}
  output: d
fan:
  input_schema: {type: object, required: [text], properties: {text: {type: string}}}
  steps:
    split: {skill: split, input: {text: "{{ input.text }}"}}
    each:
      skill: work
      needs: [split]
      for_each: steps.split.output.items
      input: {text: "{{ item }}"}
    join:
      skill: gather
      needs: [each]
      input: {parts: "{{ steps.each.output | map(attribute='text') | list }}"}
  output: join
cond:
  input_schema: {type: object, required: [text], properties: {text: {type: string}}}
  steps:
    classify: {skill: work, input: {text: "{{ input.text }}"}}
    billing:
      skill: work
      needs: [classify]
      when: "steps.classify.output.category == 'a'"
      input: {text: "bill {{ steps.classify.output.text }}"}
    refund: {skill: work, needs: [billing], input: {text: "{{ steps.billing.output.text }}"}}
    other:
      skill: work
      needs: [classify]
      when: "steps.classify.output.category != 'a'"
      input: {text: "other {{ steps.classify.output.text }}"}
    close:
      skill: work
      needs: [refund, other]
      when: "steps.classify.status == 'committed'"
      input: {text: "close {{ steps.classify.output.text }}"}
  output: close
"""


def write_pipeline_swarm(folder: Path, tenants: tuple[str, ...]) -> Path:
    """The skills and a swarm.yaml with the three pipelines, for ``tenants``."""
    (folder / "skills").mkdir(exist_ok=True)
    for body in SKILLS:
        (folder / "skills" / f"{body['name']}.yaml").write_text(yaml.safe_dump(body))
    names = [body["name"] for body in SKILLS]
    swarm = {
        "version": 1,
        "skills": ["skills/*.yaml"],
        "tenants": {tenant: {"skills": names} for tenant in tenants},
        "audit": {"sinks": ["redis"]},
        "pipelines": yaml.safe_load(PIPELINES),
    }
    path = folder / "swarm.yaml"
    path.write_text(yaml.safe_dump(swarm, sort_keys=False))
    return path


def expected_task_ids(run: PipelineRun) -> dict[str, list[str]]:
    """Step name → the task ids it must have had, from the run's own record of skips."""
    sizes = {"each": FAN}
    return {
        name: [step_task_id(run.id, name, i) for i in range(sizes.get(name, 1))]
        for name, step in run.steps.items()
        if step.state is not StepState.SKIPPED
    }


async def test_pipeline_runs_survive_random_sigkills(
    real_redis: aioredis.Redis, keyspace: Keyspace, tmp_path: Path
) -> None:
    await pipeline_chaos(real_redis, keyspace, tmp_path, REDIS_URL, TENANTS)


async def test_pipeline_runs_survive_random_sigkills_on_the_cluster(
    cluster_redis: aioredis.Redis, cluster_url: str, keyspace: Keyspace, tmp_path: Path
) -> None:
    # Three tenants on three masters: runs advance on every node of the cluster.
    tenants = spread_tenants(cluster_url)
    await pipeline_chaos(cluster_redis, keyspace, tmp_path, cluster_url, tenants)


async def pipeline_chaos(
    redis: aioredis.Redis, keyspace: Keyspace, folder: Path, url: str, tenants: tuple[str, ...]
) -> None:
    """Start runs of every pipeline, kill workers while they go, check everything after."""
    swarm = write_pipeline_swarm(folder, tenants)
    fleet = Fleet(swarm, keyspace.prefix, folder, 3, 4, url=url, log_level="INFO")
    chaos = Chaos(fleet, random.Random(SEED))
    sessions = {tenant: f"chaos-{tenant}" for tenant in tenants}
    try:
        async with Client.from_swarm(swarm, url, prefix=keyspace.prefix, actor="chaos") as client:
            started: list[PipelineRun] = []
            # Three waves, so that runs start while workers die, not only before.
            for wave in range(3):
                for tenant in tenants:
                    for pipeline, count in RUNS.items():
                        for n in range(wave, count, 3):
                            text = f"{tenant} {pipeline} {n}"
                            run = await client.runs.start(
                                tenant, pipeline, {"text": text}, session=sessions[tenant]
                            )
                            started.append(run)
                await chaos.go_on(1.5)
            deadline = time.monotonic() + 90
            runs: dict[str, PipelineRun] = {}
            while time.monotonic() < deadline:
                runs = {r.id: await client.runs.get(r.id, tenant=r.tenant) for r in started}
                if all(r.state is not RunState.RUNNING for r in runs.values()):
                    break
                await chaos.go_on(1.0)
            # Let the surviving Judges write their last post-commit audit events.
            await asyncio.sleep(0.5)
    finally:
        codes = fleet.stop()
    assert chaos.kills >= 5, f"only {chaos.kills} workers killed: too short a run for chaos"
    assert codes == [0] * len(codes)
    unfinished = {
        r.id: (r.pipeline, r.state.value, r.failed_step, r.reason, _open_steps(r))
        for r in runs.values()
        if r.state is not RunState.SUCCEEDED
    }
    assert not unfinished, (unfinished, await _dead_letters(redis, keyspace, tenants))
    assert len(runs) == sum(RUNS.values()) * len(tenants)
    expected = await check_steps(redis, keyspace, runs, sessions)
    await check_run_audit(redis, keyspace, runs, expected, tenants)


class Chaos:
    """SIGKILLs a working worker every 0.5-1 s (``MAX_KILLS`` at most) and restarts it.

    A worker is killed only while another one works: on a loaded machine a new worker
    takes seconds to start, and killing each one as soon as it starts would stop all work
    (and test nothing but start-up). The kills stop at ``MAX_KILLS``: at the end of a run
    few tasks are left, each held by one of two or three workers, and endless kills would
    make innocent tasks look like poison (a task whose workers died more than
    ``max_deliveries`` times is dead-lettered, and fails its run).
    """

    def __init__(self, fleet: Fleet, rng: random.Random) -> None:
        self.fleet, self.rng = fleet, rng
        self.kills = 0

    async def go_on(self, seconds: float) -> None:
        """Kill and restart workers for ``seconds``."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            await asyncio.sleep(min(left, self.rng.uniform(0.5, 1.0)))
            self.fleet.respawn_dead()
            working = sum(self.fleet.running(proc) for proc in self.fleet.procs)
            if self.kills < MAX_KILLS and working >= 2:
                self.kills += self.fleet.kill_one(self.rng, only_running=True)


async def _dead_letters(
    redis: aioredis.Redis, keyspace: Keyspace, tenants: tuple[str, ...]
) -> list[str]:
    """The reasons in the tenants' dead-letter streams (to say why a run failed)."""
    letters = []
    for tenant in tenants:
        for _, fields in await redis.xrange(keyspace.tenant(tenant).dlq, count=5):
            letters.append(json.loads(fields["body"])["reason"])
    return letters


def _open_steps(run: PipelineRun) -> dict[str, str]:
    return {n: s.state.value for n, s in run.steps.items() if s.state is not StepState.COMMITTED}


async def check_steps(
    redis: aioredis.Redis,
    keyspace: Keyspace,
    runs: dict[str, PipelineRun],
    sessions: dict[str, str],
) -> dict[str, str]:
    """Every step task enqueued once and committed once; returns task id → run id."""
    owner: dict[str, str] = {}
    per_tenant: dict[str, set[str]] = defaultdict(set)
    branches: Counter[str] = Counter()
    for run in runs.values():
        wanted = expected_task_ids(run)
        for name, step in run.steps.items():
            if name in wanted:
                assert [t.task_id for t in step.tasks] == wanted[name], (run.id, name)
                assert {t.state for t in step.tasks} == {StepState.COMMITTED}, (run.id, name)
            else:
                assert step.tasks == [], (run.id, name)
        if run.pipeline == "cond":
            ran = "billing" if "billing" in wanted else "other"
            skipped = {"other"} if ran == "billing" else {"billing", "refund"}
            assert set(run.steps) - set(wanted) == skipped, run.id
            branches[ran] += 1
        else:
            assert set(wanted) == set(run.steps), run.id
        for ids in wanted.values():
            for task_id in ids:
                assert task_id not in owner, f"task {task_id} belongs to two runs"
                owner[task_id] = run.id
                per_tenant[run.tenant].add(task_id)
    assert set(branches) == {"billing", "other"}, f"the condition never went both ways: {branches}"
    store = RedisSessionStore(redis, keyspace)
    for tenant, ids in per_tenant.items():
        keys = keyspace.tenant(tenant)
        committed = set(await redis.hkeys(keys.committed))
        assert committed == ids, (len(committed - ids), len(ids - committed))
        info = await store.get(tenant, sessions[tenant])
        assert info is not None
        # Counted at enqueue and at commit: exactly once each, or a counter shows it.
        assert (info.submitted, info.committed) == (len(ids), len(ids))
        assert set(await store.task_ids(tenant, sessions[tenant])) == ids
        # Every XADD to the tasks stream: the step tasks, plus retries put back (none here).
        added = (await redis.xinfo_stream(keys.tasks))["entries-added"]
        assert added == len(ids) + info.retried, (added, len(ids), info.retried)
        for stream, group in ((keys.tasks, WORKER_GROUP), (keys.results, JUDGE_GROUP)):
            groups = {g["name"]: g for g in await redis.xinfo_groups(stream)}
            assert groups[group]["pending"] == 0, f"{stream} has pending entries"
        assert await redis.hlen(keys.ledger) == 0
        assert await redis.scard(keys.runs_active) == 0
    return owner


async def check_run_audit(
    redis: aioredis.Redis,
    keyspace: Keyspace,
    runs: dict[str, PipelineRun],
    owner: dict[str, str],
    tenants: tuple[str, ...],
) -> None:
    """Each chain verifies; each run started and finished once, each step task ran once."""
    # Events a killed process left pending are what any Judge's sweep sends later.
    pending = RedisPendingAudit(redis, keyspace)
    sink = FanoutAuditLogger([RedisAuditSink(redis, keyspace)])
    await AuditSweep(pending, sink, list(tenants), after_s=0).sweep()
    by_run: dict[str, Counter[str]] = defaultdict(Counter)
    by_task: dict[str, Counter[str]] = defaultdict(Counter)
    finished: dict[str, str] = {}
    for tenant in tenants:
        check = await RedisAuditTrail(redis, keyspace).read(tenant, verify=True)
        assert check.ok, check.problem
        for record in check.records:
            event = record.event
            kind = event.type.value
            if kind in RUN_EVENTS:
                run_id = str(event.data["run"])
                step = event.data.get("step")
                by_run[run_id][f"{kind}:{step}" if step else kind] += 1
                if kind == "run_finished":
                    finished[run_id] = str(event.data["outcome"])
            elif event.task_id is not None:
                by_task[event.task_id][kind] += 1
    for run in runs.values():
        kinds = by_run[run.id]
        assert (kinds["run_started"], kinds["run_finished"]) == (1, 1), (run.id, kinds)
        ran = [n for n, s in run.steps.items() if s.state is not StepState.SKIPPED]
        assert all(kinds[f"step_enqueued:{n}"] == 1 for n in ran), (run.id, kinds)
        assert finished[run.id] == "succeeded"
    for task_id in owner:
        kinds = by_task[task_id]
        once = (kinds["submitted"], kinds["decision"], kinds["committed"])
        assert once == (1, 1, 1), (
            task_id,
            kinds,
        )
