"""Config drift: tasks planned with a newer swarm.yaml than some Workers and Judges run.

A process that cannot understand a task (its skill is not in its swarm) never settles it:
it leaves it for an up-to-date process, and after a bound dead-letters it with a reason
that can be replayed. A skill known under another definition runs, and the process says
so in its log once per skill.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
import structlog

from chimera.config.swarm import Swarm
from chimera.lib.keys import Keyspace
from chimera.lib.redis_stores import RedisDeadLetterStore
from chimera.models.task import Task
from chimera.services.dead_letters import DeadLetterService
from chimera.services.planner import Submission
from chimera.services.worker.core import GiveUp, Wait, cannot_run, wait_for_update
from tests.chimera.helpers import ECHO_SKILL, FakeBackend, Running, eventually, write_swarm
from tests.chimera.stack import Stack

TRANSLATE = {**ECHO_SKILL, "name": "translate"}


def swarms(tmp_path: Path, **changed: Any) -> tuple[Swarm, Swarm]:
    """The swarm the running processes have, and the one ``submit`` has (``translate`` added,
    ``echo`` changed by ``changed``)."""
    old = write_swarm(tmp_path / "old", skills=[ECHO_SKILL])
    new = write_swarm(tmp_path / "new", skills=[{**ECHO_SKILL, **changed}, TRANSLATE])
    return old, new


def stack(swarm: Swarm, client: aioredis.Redis, keyspace: Keyspace, backend: Any) -> Stack:
    return Stack(swarm, client, keyspace, {"fake": backend})


async def committed(s: Stack, n: int) -> bool:
    return bool(await s.client.hlen(s.keys().committed) >= n)


async def dead_lettered(s: Stack, n: int) -> bool:
    return bool(await s.client.xlen(s.keys().dlq) >= n)


# -- the rules, pure --------------------------------------------------------------------


def test_a_skill_this_swarm_lacks_or_forbids_cannot_run(tmp_path: Path) -> None:
    old, new = swarms(tmp_path)
    task = Task(tenant="acme", session="s1", skill="translate", input={"text": "x"})
    assert cannot_run(task, "acme", new) is None
    assert cannot_run(task, "acme", old) == "skill 'translate' is not in this worker's swarm"
    narrow = write_swarm(
        tmp_path / "narrow",
        skills=[ECHO_SKILL, TRANSLATE],
        tenants={"acme": {"skills": ["echo"]}, "globex": {"skills": ["echo", "translate"]}},
    )
    assert "does not let tenant 'acme' run skill 'translate'" in str(
        cannot_run(task, "acme", narrow)
    )


def test_a_task_waits_from_its_first_hand_back_until_the_bound() -> None:
    task = Task(tenant="acme", session="s1", skill="translate", input={"text": "x"})
    first = wait_for_update(task, "unknown", now=1000.0, wait_s=60, recheck_s=5)
    assert isinstance(first, Wait)
    assert first.due == 1005.0
    assert first.task.waiting_since == datetime.fromtimestamp(1000.0, UTC)
    assert first.task.attempt == task.attempt  # waiting is not an attempt
    again = wait_for_update(first.task, "unknown", now=1059.0, wait_s=60, recheck_s=5)
    assert isinstance(again, Wait)
    assert again.task == first.task  # the wait still counts from the first hand-back
    last = wait_for_update(first.task, "unknown", now=1060.0, wait_s=60, recheck_s=5)
    assert isinstance(last, GiveUp)
    assert last.letter.reason.startswith("config drift: unknown, and no worker that took it")
    assert last.letter.in_ledger  # a task of the tenant's ledger: replayable
    assert first.task.next_attempt().waiting_since is None
    assert first.task.replayed().waiting_since is None


def test_tasks_carry_the_fingerprint_of_their_skill_definition(tmp_path: Path) -> None:
    old, new = swarms(tmp_path, prompt="Repeat {{ text }}")
    assert old.skills["echo"].fingerprint != new.skills["echo"].fingerprint
    again = write_swarm(tmp_path / "again", skills=[ECHO_SKILL])
    assert again.skills["echo"].fingerprint == old.skills["echo"].fingerprint
    assert len(old.skills["echo"].fingerprint) == 16


# -- Workers ----------------------------------------------------------------------------


async def test_an_old_worker_leaves_a_new_skill_to_an_up_to_date_worker(
    tmp_path: Path, fake_redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    old_swarm, new_swarm = swarms(tmp_path)
    old_backend, new_backend = FakeBackend(), FakeBackend()
    old = stack(old_swarm, fake_redis, keyspace, old_backend)
    new = stack(new_swarm, fake_redis, keyspace, new_backend)
    [task] = await new.planner().submit([Submission("acme", "translate", {"text": "hola"})])
    assert task.skill_fingerprint == new_swarm.skills["translate"].fingerprint
    with structlog.testing.capture_logs() as logs:
        async with Running(old.worker("old", drift_recheck_s=0.02, promote_every_s=0.01)):
            await asyncio.sleep(0.3)  # handed back again and again, never settled
    assert old_backend.calls == []
    assert await fake_redis.xlen(old.keys().results) == 0
    assert await fake_redis.xlen(old.keys().dlq) == 0
    said = [e for e in logs if e["event"] == "worker.skill_not_runnable_here"]
    assert len(said) == 1  # once per skill, not per hand-back
    assert said[0]["skill"] == "translate"
    info = await old.sessions.get("acme", task.session)
    assert info is not None
    assert (info.retried, info.dead_lettered) == (0, 0)
    async with Running(
        new.worker("new", promote_every_s=0.01),
        new.judge(),
        old.worker("old2", drift_recheck_s=0.02),
    ):
        await eventually(lambda: committed(new, 1), within=15)
    assert [str(r.input["text"]) for r in new_backend.calls] == ["hola"]
    assert old_backend.calls == []


async def test_a_new_skill_no_worker_can_run_is_dead_lettered_then_replayed(
    tmp_path: Path, fake_redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    old_swarm, new_swarm = swarms(tmp_path)
    old = stack(old_swarm, fake_redis, keyspace, FakeBackend())
    new = stack(new_swarm, fake_redis, keyspace, FakeBackend())
    [task] = await new.planner().submit([Submission("acme", "translate", {"text": "hola"})])
    worker = old.worker("old", drift_recheck_s=0.02, drift_wait_s=0.1, promote_every_s=0.01)
    async with Running(worker):
        await eventually(lambda: dead_lettered(old, 1), within=15)
    [(_, fields)] = await fake_redis.xrange(old.keys().dlq)
    letter = json.loads(fields["body"])
    assert letter["reason"].startswith(
        "config drift: skill 'translate' is not in this worker's swarm, and no worker"
    )
    assert letter["task"]["id"] == task.id
    # Once the workers run the new file, the operator replays it and it commits.
    service = DeadLetterService(RedisDeadLetterStore(fake_redis, keyspace), new.audit, ["acme"])
    [replayed] = await service.replay(None, actor="ops")
    assert replayed.task is not None
    async with Running(new.worker("new", promote_every_s=0.01), new.judge()):
        await eventually(lambda: committed(new, 1), within=15)


async def test_a_changed_definition_runs_and_is_said_once_per_skill(
    tmp_path: Path, fake_redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    old_swarm, new_swarm = swarms(tmp_path, prompt="Repeat {{ text }}")
    old = stack(old_swarm, fake_redis, keyspace, FakeBackend())
    new = stack(new_swarm, fake_redis, keyspace, FakeBackend())
    await new.planner().submit([Submission("acme", "echo", {"text": f"t{i}"}) for i in range(3)])
    with structlog.testing.capture_logs() as logs:
        async with Running(old.worker("old"), old.judge()):
            await eventually(lambda: committed(old, 3))
    differs = [e for e in logs if e["event"] == "worker.skill_definition_differs"]
    assert len(differs) == 1
    assert differs[0]["planned_with"] == new_swarm.skills["echo"].fingerprint
    assert differs[0]["running"] == old_swarm.skills["echo"].fingerprint


async def test_input_that_does_not_fit_an_older_definition_waits(
    tmp_path: Path, fake_redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    strict = {**ECHO_SKILL["input_schema"], "additionalProperties": False}
    wider = {
        **ECHO_SKILL["input_schema"],
        "properties": {**ECHO_SKILL["input_schema"]["properties"], "lang": {"type": "string"}},
    }
    old = stack(
        write_swarm(tmp_path / "old", skills=[{**ECHO_SKILL, "input_schema": strict}]),
        fake_redis,
        keyspace,
        FakeBackend(),
    )
    new = stack(
        write_swarm(tmp_path / "new", skills=[{**ECHO_SKILL, "input_schema": wider}]),
        fake_redis,
        keyspace,
        FakeBackend(),
    )
    await new.planner().submit([Submission("acme", "echo", {"text": "x", "lang": "es"})])
    async with Running(old.worker("old", drift_recheck_s=0.02, promote_every_s=0.01)):
        await asyncio.sleep(0.2)
    assert await fake_redis.xlen(old.keys().results) == 0  # not failed for good
    async with Running(new.worker("new", promote_every_s=0.01), new.judge()):
        await eventually(lambda: committed(new, 1), within=15)


# -- Judges -----------------------------------------------------------------------------


async def test_an_old_judge_leaves_a_new_skills_result_to_an_up_to_date_judge(
    tmp_path: Path, fake_redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    old_swarm, new_swarm = swarms(tmp_path)
    old = stack(old_swarm, fake_redis, keyspace, FakeBackend())
    new = stack(new_swarm, fake_redis, keyspace, FakeBackend())
    await new.planner().submit([Submission("acme", "translate", {"text": "hola"})])
    async with Running(new.worker("new")):
        await eventually(lambda: _results(new, 1))
    with structlog.testing.capture_logs() as logs:
        async with Running(old.judge("old", lease_ms=100)):
            await asyncio.sleep(0.3)
    assert await fake_redis.hlen(old.keys().committed) == 0
    assert await fake_redis.hlen(old.keys().settled) == 0  # not denied
    assert len([e for e in logs if e["event"] == "judge.skill_not_judgeable_here"]) == 1
    async with Running(old.judge("old", lease_ms=100), new.judge("new", lease_ms=100)):
        await eventually(lambda: committed(new, 1), within=15)


async def test_a_result_no_judge_can_judge_is_dead_lettered_after_the_bound(
    tmp_path: Path, fake_redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    old_swarm, new_swarm = swarms(tmp_path)
    old = stack(old_swarm, fake_redis, keyspace, FakeBackend())
    new = stack(new_swarm, fake_redis, keyspace, FakeBackend())
    [task] = await new.planner().submit([Submission("acme", "translate", {"text": "hola"})])
    async with Running(new.worker("new")):
        await eventually(lambda: _results(new, 1))
    async with Running(old.judge("old", lease_ms=100, drift_wait_s=0.2)):
        await eventually(lambda: dead_lettered(old, 1), within=15)
    [(_, fields)] = await fake_redis.xrange(old.keys().dlq)
    letter = json.loads(fields["body"])
    assert letter["task"]["id"] == task.id
    assert "no judge that took its Result could judge it" in letter["reason"]
    assert await fake_redis.hget(old.keys().settled, task.id) == "dead_lettered"
    assert (
        await fake_redis.xlen(old.keys().results),
        await fake_redis.hlen(old.keys().ledger),
    ) == (
        0,
        0,
    )
    events = [json.loads(v) for v in (await fake_redis.hgetall(old.keys().audit_pending)).values()]
    assert events == []  # the dead letter's event went on to the sinks


async def _results(s: Stack, n: int) -> bool:
    return bool(await s.client.xlen(s.keys().results) >= n)
