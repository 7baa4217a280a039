"""Pipeline runs under control: advanced by many at once, cancelled, halted, audited.

Real Redis under the test's prefix; Workers and Judges in this process. The store itself
(``RedisRunStore``: compare-and-set by version) is checked at the end.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import redis.asyncio as aioredis

from chimera import Client
from chimera.lib.keys import Keyspace
from chimera.lib.redis_runs import RedisRunStore
from chimera.models.audit import AuditEventType
from chimera.models.pipeline import PipelineRun, RunState, StepRun, StepState, StepTask
from chimera.models.session import SessionState
from chimera.models.task import Task
from chimera.ports.runs import RunWrite
from chimera.ports.stores import TaskState
from chimera.services.pipeline import new_run, step_task_id
from tests.chimera.run_support import (
    Probe,
    client,
    count_events,
    probe,
    serving,
    start_until_review,
)

__all__ = ["client", "probe"]  # fixtures, used by name

S = StepState


async def until(client: Client, run_id: str, state: RunState) -> PipelineRun:
    """The run once it is in ``state`` (fails after a few seconds)."""
    for _ in range(200):
        run = await client.runs.get(run_id)
        if run.state is state:
            return run
        await asyncio.sleep(0.02)
    raise AssertionError(f"run {run_id} is {run.state}, not {state}")


async def entries_of(redis: aioredis.Redis, keyspace: Keyspace, task_id: str) -> int:
    """How many entries of the task stream carry ``task_id``."""
    entries = await redis.xrange(keyspace.tenant("acme").tasks) or []
    return sum(task_id in str(fields) for _, fields in entries)


async def test_concurrent_advances_of_one_commit_enqueue_the_next_step_once(
    client: Client, probe: Probe, real_redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    run = await client.runs.start("acme", "chain", {"text": "x"})
    first, second = step_task_id(run.id, "first"), step_task_id(run.id, "second")
    async with serving(client, advance_runs=False):
        assert (await client.wait(first, tenant="acme", timeout_s=10)).state is TaskState.COMMITTED
    store = client.runtime.run_keeper().runs
    [before] = (await store.load("acme", [run.id])).values()
    assert before.run.steps["first"].state is S.RUNNING  # nobody advanced it yet

    keepers = [client.runtime.run_keeper(f"keeper-{i}") for i in range(6)]
    moved = await asyncio.gather(*(k.advance("acme", [run.id]) for k in keepers))
    # And once more, after all of them: the same facts, nothing new to do.
    await keepers[0].advance("acme", [run.id])

    [after] = (await store.load("acme", [run.id])).values()
    assert after.version == before.version + 1  # one writer won; the rest found it done
    assert after.run.steps["first"].state is S.COMMITTED
    assert after.run.steps["second"].state is S.RUNNING
    assert all(m == [after.run] for m in moved)
    assert await entries_of(real_redis, keyspace, second) == 1
    assert await probe.session_tasks(after.run) == {first, second}
    assert await probe.submitted(after.run) == 2
    enqueued = [
        e.data["step"]
        for e in await probe.trail(client)
        if e.type is AuditEventType.STEP_ENQUEUED and e.data["run"] == run.id
    ]
    assert enqueued == ["first", "second"]

    # A write computed from the stale version changes nothing and enqueues nothing.
    stale_task = Task(id=second, tenant="acme", session=run.session, skill="work", input={})
    assert await store.write(RunWrite(before.run, before.version, [stale_task], [None])) is None
    [unchanged] = (await store.load("acme", [run.id])).values()
    assert unchanged == after
    assert await entries_of(real_redis, keyspace, second) == 1

    async with client.serve(concurrency=10):
        done = await client.runs.wait(run.id, timeout_s=10)
    assert done.state is RunState.SUCCEEDED, done.reason
    assert await probe.submitted(done) == 2


async def test_cancelling_a_run_stops_its_pending_steps_and_its_running_task(
    client: Client, probe: Probe
) -> None:
    async with serving(client):
        run = await client.runs.start("acme", "slow_chain", {"text": "x"})
        first = step_task_id(run.id, "first")
        await asyncio.sleep(0.3)  # the Worker is inside the slow call
        cancelled = await client.runs.cancel(run.id, reason="not needed")
        assert cancelled.state is RunState.CANCELLED
        assert cancelled.reason == "not needed"
        assert cancelled.steps["first"].state is S.CANCELLED
        assert cancelled.steps["second"].state is S.CANCELLED
        assert (await client.result(first, tenant="acme")).state is TaskState.CANCELLED
        # The slow call ends (1.5 s) and its Result comes to the Judge: still cancelled.
        await asyncio.sleep(1.6)
        done = await client.runs.get(run.id)

    assert done.state is RunState.CANCELLED
    assert done.steps["second"].state is S.CANCELLED
    assert done.steps["first"].state is S.CANCELLED
    assert (await client.result(first, tenant="acme")).state is TaskState.CANCELLED
    assert await probe.session_tasks(done) == {first}
    assert run.id not in await probe.active()
    finished = count_events(await probe.trail(client), AuditEventType.RUN_FINISHED)
    assert finished[run.id] == 1


async def test_cancelling_a_run_waiting_for_review_withdraws_the_review(
    client: Client, probe: Probe
) -> None:
    async with serving(client):
        run, draft = await start_until_review(client, "reviewed", "draft", "x")
        cancelled = await client.runs.cancel(run.id)

    assert cancelled.state is RunState.CANCELLED
    assert cancelled.reason == "cancelled by app"
    assert {n: s.state for n, s in cancelled.steps.items()} == {
        "draft": S.CANCELLED,
        "send": S.CANCELLED,
    }
    assert (await client.result(draft, tenant="acme")).state is TaskState.CANCELLED
    assert await client.review.list(tenant="acme") == []
    assert await client.runs.get(run.id) == cancelled
    assert await probe.session_tasks(cancelled) == {draft}


async def test_a_halted_session_halts_its_run_and_resuming_continues_it(
    client: Client, probe: Probe
) -> None:
    sessions = client.runtime.session_control()
    async with serving(client, sweep_s=0.05):
        run, first = await start_until_review(client, "parked_chain", "first", "x")
        await sessions.halt("acme", run.session)
        await until(client, run.id, RunState.HALTED)
        # The human approves while the session is halted: the step commits, and the run
        # holds its next step back.
        assert (await client.review.approve(first)).outcome == "committed"
        await asyncio.sleep(0.3)  # several sweeps
        halted = await client.runs.get(run.id)
        assert halted.state is RunState.HALTED
        assert halted.steps["first"].state is S.COMMITTED
        assert halted.steps["second"].state is S.PENDING
        assert await probe.session_tasks(halted) == {first}

        await sessions.resume("acme", run.session)
        done = await client.runs.wait(run.id, timeout_s=10)

    assert done.state is RunState.SUCCEEDED, done.reason
    assert await probe.session_tasks(done) == {first, step_task_id(run.id, "second")}
    info = await client.runtime.sessions.get("acme", run.session)
    assert info is not None
    assert info.stored_state is SessionState.RUNNING


async def test_the_audit_trail_holds_each_run_event_once_and_verifies(
    client: Client, probe: Probe
) -> None:
    async with client.serve(concurrency=20):
        ok = await client.runs.start("acme", "diamond", {"text": "x"})
        bad = await client.runs.start("acme", "failing", {"text": "y"})
        for run in (ok, bad):
            await client.runs.wait(run.id, timeout_s=10)

    events = await probe.trail(client)  # asserts the hash chain verifies
    mine = [e for e in events if e.data.get("run") in (ok.id, bad.id)]
    started = count_events(mine, AuditEventType.RUN_STARTED)
    finished = count_events(mine, AuditEventType.RUN_FINISHED)
    assert started == {ok.id: 1, bad.id: 1}
    assert finished == {ok.id: 1, bad.id: 1}
    steps = [
        (e.data["run"], e.data["step"], e.data["task_ids"])
        for e in mine
        if e.type is AuditEventType.STEP_ENQUEUED
    ]
    assert sorted(steps) == sorted(
        [(ok.id, name, [step_task_id(ok.id, name)]) for name in "abcd"]
        + [(bad.id, name, [step_task_id(bad.id, name)]) for name in ("a", "bad")]
    )
    outcome = {e.data["run"]: e.data for e in mine if e.type is AuditEventType.RUN_FINISHED}
    assert outcome[ok.id]["outcome"] == "succeeded"
    assert (outcome[bad.id]["outcome"], outcome[bad.id]["failed_step"]) == ("failed", "bad")
    # Events come in the order they happened: started, steps, finished.
    kinds = [e.type for e in mine if e.data["run"] == ok.id]
    assert kinds[0] is AuditEventType.RUN_STARTED
    assert kinds[-1] is AuditEventType.RUN_FINISHED


async def test_the_run_store_compares_versions_and_keeps_the_active_set(
    client: Client, real_redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    store = RedisRunStore(real_redis, keyspace)
    pipeline = client.swarm.pipelines["chain"]
    at = datetime(2026, 1, 1, tzinfo=UTC)

    def a_run(run_id: str) -> PipelineRun:
        return new_run(
            pipeline, run_id=run_id, tenant="acme", session="s1", input={"text": "x"}, at=at
        )

    one, two = a_run("01JAAAAAAAAAAAAAAAAAAAAAAA"), a_run("01JBBBBBBBBBBBBBBBBBBBBBBB")
    assert await store.write(RunWrite(two, 0)) == 0
    assert await store.write(RunWrite(one, 0)) == 0
    assert await store.write(RunWrite(one, 0)) is None  # a second "new" run by the same id
    assert await store.active("acme") == [one.id, two.id]

    done = one.model_copy(update={"state": RunState.CANCELLED})
    assert await store.write(RunWrite(done, 2)) is None  # not the stored version
    assert await store.write(RunWrite(done, 1)) == 0
    assert await store.active("acme") == [two.id]
    loaded = await store.load("acme", [one.id, "01JCCCCCCCCCCCCCCCCCCCCCCC", one.id])
    assert {k: (v.run.state, v.version) for k, v in loaded.items()} == {
        one.id: (RunState.CANCELLED, 2)
    }
    assert [(s.run.id, s.version) for s in await store.all("acme")] == [(one.id, 2), (two.id, 1)]

    # A failed run whose other branch still has a task open stays watched until it settles.
    task = StepTask(task_id=step_task_id(two.id, "first"), enqueued_at=at)
    steps = {**two.steps, "first": StepRun(state=S.RUNNING, tasks=[task])}
    failed = two.model_copy(update={"state": RunState.FAILED, "steps": steps})
    assert await store.write(RunWrite(failed, 1)) == 0
    assert await store.active("acme") == [two.id]
    settled = StepRun(state=S.COMMITTED, tasks=[task.model_copy(update={"state": S.COMMITTED})])
    failed = failed.model_copy(update={"steps": {**steps, "first": settled}})
    assert await store.write(RunWrite(failed, 2)) == 0
    assert await store.active("acme") == []

    # A body nobody can read is left out (and logged), not raised to every reader.
    await real_redis.hset(keyspace.tenant("acme").runs, two.id, "{not json")
    assert await store.load("acme", [two.id]) == {}
    assert [s.run.id for s in await store.all("acme")] == [one.id]
    assert await store.load("acme", []) == {}
