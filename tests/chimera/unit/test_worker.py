"""T016: the Worker reads in batches bounded by free slots, runs tasks concurrently, emits
validated Results, retries transient failures and dead-letters what keeps failing."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from chimera.lib.keys import Keyspace
from chimera.models.result import ErrorKind, Result, ResultStatus
from chimera.models.session import SessionState
from chimera.ports.llm import BackendError
from chimera.services.planner import Submission
from chimera.testing import make_result
from tests.chimera.helpers import ECHO_SKILL, FakeBackend, Running, eventually, write_swarm
from tests.chimera.stack import Stack


def make_stack(
    tmp_path: Path, client: aioredis.Redis, keyspace: Keyspace, backend: Any, **skill: Any
) -> Stack:
    swarm = write_swarm(tmp_path, skills=[{**ECHO_SKILL, **skill}])
    return Stack(swarm, client, keyspace, {"fake": backend})


async def results(stack: Stack, tenant: str = "acme") -> list[Result]:
    entries = await stack.client.xrange(stack.keys(tenant).results)
    return [Result.model_validate_json(fields["body"]) for _, fields in entries]


async def submit(stack: Stack, n: int, tenant: str = "acme", **input: Any) -> list[str]:
    tasks = await stack.planner().submit(
        [Submission(tenant, "echo", {"text": f"t{i}", **input}) for i in range(n)], session="s1"
    )
    return [t.id for t in tasks]


async def test_worker_runs_tasks_concurrently_and_emits_results(
    tmp_path: Path, fake_redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    backend = FakeBackend(delay_s=0.05)
    stack = make_stack(tmp_path, fake_redis, keyspace, backend)
    ids = await submit(stack, 40)
    async with Running(stack.worker(concurrency=20)):
        await eventually(lambda: _count(stack, 40))
    got = await results(stack)
    assert sorted(r.task_id for r in got) == sorted(ids)
    assert all(
        r.status is ResultStatus.SUCCEEDED and r.output == {"echo": r.output["echo"]} for r in got
    )
    assert 10 < backend.peak <= 20  # slots are used, and never more in flight than slots
    assert (await stack.queue.stats("acme")).tasks.pending == 0


async def _count(stack: Stack, n: int, tenant: str = "acme") -> bool:
    return bool(await stack.client.xlen(stack.keys(tenant).results) >= n)


async def test_reads_ask_for_free_slots_and_flush_in_batches(
    tmp_path: Path, fake_redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    stack = make_stack(tmp_path, fake_redis, keyspace, FakeBackend(delay_s=0.02))
    await submit(stack, 300)
    reads: list[int] = []
    completes: list[int] = []
    read, complete = stack.queue.read_within, stack.queue.complete

    async def counting_read(consumer, shares, limits, block_ms):  # type: ignore[no-untyped-def]
        reads.append(sum(shares.values()))
        return await read(consumer, shares, limits, block_ms)

    async def counting_complete(done):  # type: ignore[no-untyped-def]
        completes.append(len(done))
        return await complete(done)

    stack.queue.read_within = counting_read  # type: ignore[method-assign]
    stack.queue.complete = counting_complete  # type: ignore[method-assign]
    async with Running(stack.worker(concurrency=100)):
        await eventually(lambda: _count(stack, 300))
    assert max(reads) <= 100
    assert sum(completes) == 300
    # Bounded round trips: results are flushed in batches, not one call per task.
    assert len(completes) < 300 / 5


async def test_invalid_input_fails_at_once_without_retry(
    tmp_path: Path, fake_redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    backend = FakeBackend()
    stack = make_stack(tmp_path, fake_redis, keyspace, backend)
    task = (await stack.planner().submit([Submission("acme", "echo", {"text": "x"})]))[0]
    # Slip a task past the Planner whose input breaks the schema.
    # Another id than the good task's, whatever its last character (ULIDs made in one
    # millisecond count up: the task's may end in "Z" itself).
    other = task.id[:-1] + ("Y" if task.id.endswith("Z") else "Z")
    bad = task.model_copy(update={"input": {"wrong": 1}, "id": other})
    await stack.queue.enqueue([bad])
    async with Running(stack.worker()):
        await eventually(lambda: _count(stack, 2))
    failed = [r for r in await results(stack) if r.status is ResultStatus.FAILED]
    assert len(failed) == 1
    assert failed[0].error_kind is ErrorKind.INVALID_INPUT
    assert "required property" in (failed[0].error or "")
    assert len(backend.calls) == 1  # the bad one never reached the backend


async def test_transient_failure_is_retried_then_succeeds(
    tmp_path: Path, fake_redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    backend = FakeBackend(fail_times=2, error=BackendError("503", ErrorKind.BACKEND))
    stack = make_stack(tmp_path, fake_redis, keyspace, backend)
    await submit(stack, 1)
    async with Running(stack.worker(promote_every_s=0.01)):
        await eventually(lambda: _count(stack, 1))
    [result] = await results(stack)
    assert result.status is ResultStatus.SUCCEEDED
    assert result.attempt == 3
    info = await stack.sessions.get("acme", "s1")
    assert info is not None
    assert info.retried == 2


async def test_exhausted_retries_dead_letter_with_reason(
    tmp_path: Path, fake_redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    backend = FakeBackend(fail_times=99, error=BackendError("rate limited", ErrorKind.RATE_LIMIT))
    stack = make_stack(tmp_path, fake_redis, keyspace, backend)
    [task_id] = await submit(stack, 1)
    dead: list[Any] = []
    async with Running(
        stack.worker(promote_every_s=0.01, on_dead_letter=lambda d, letter: dead.append(letter))
    ):
        await eventually(lambda: _dlq_len(stack, 1))
    [entry] = await stack.client.xrange(stack.keys().dlq)
    body = json.loads(entry[1]["body"])
    assert body["task"]["id"] == task_id
    assert body["attempts"] == 3
    assert "rate limited" in body["last_error"]
    assert dead
    assert dead[0].reason == "gave up after 3 attempts"
    assert await stack.client.hget(stack.keys().settled, task_id) == "dead_lettered"
    assert await results(stack) == []


async def _dlq_len(stack: Stack, n: int) -> bool:
    return bool(await stack.client.xlen(stack.keys().dlq) >= n)


async def test_timeout_counts_as_retryable_failure(
    tmp_path: Path, fake_redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    stack = make_stack(
        tmp_path,
        fake_redis,
        keyspace,
        FakeBackend(delay_s=0.5),
        timeout_s=0.05,
        retry={"max_attempts": 1, "backoff_base_s": 0.01},
    )
    await submit(stack, 1)
    async with Running(stack.worker()):
        await eventually(lambda: _dlq_len(stack, 1))
    [entry] = await stack.client.xrange(stack.keys().dlq)
    assert "timeout" in json.loads(entry[1]["body"])["last_error"]


async def test_output_breaking_schema_is_not_emitted_as_success(
    tmp_path: Path, fake_redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    stack = make_stack(
        tmp_path,
        fake_redis,
        keyspace,
        FakeBackend(),
        output_schema={"type": "object", "required": ["other"]},
        retry={"max_attempts": 1, "backoff_base_s": 0.01},
    )
    await submit(stack, 1)
    async with Running(stack.worker()):
        await eventually(lambda: _dlq_len(stack, 1))
    [entry] = await stack.client.xrange(stack.keys().dlq)
    assert "invalid_output" in json.loads(entry[1]["body"])["last_error"]


async def test_poison_entry_is_dead_lettered_after_max_deliveries(
    tmp_path: Path, fake_redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    backend = FakeBackend()
    stack = make_stack(tmp_path, fake_redis, keyspace, backend)
    await submit(stack, 1)
    # Three consumers take the entry and "die" without acking.
    await stack.queue.read_tasks("dead-1", ["acme"], 1, 10)
    for name in ("dead-2", "dead-3"):
        await stack.queue.claim_stale(name, ["acme"], 0, 1)
    worker = stack.worker(max_deliveries=3, lease_ms=50)
    await worker.queue.ensure_groups(["acme"])
    await asyncio.sleep(0.06)  # idle past the 50 ms lease
    reclaimed = await worker.reclaim()
    assert reclaimed == 1
    async with Running(worker):
        await eventually(lambda: _dlq_len(stack, 1))
    [entry] = await stack.client.xrange(stack.keys().dlq)
    assert json.loads(entry[1]["body"])["reason"] == "poison: delivered 4 times"
    assert backend.calls == []


async def test_halted_session_tasks_wait_until_resumed(
    tmp_path: Path, fake_redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    backend = FakeBackend()
    stack = make_stack(tmp_path, fake_redis, keyspace, backend)
    await stack.sessions.open("acme", "s1")
    await stack.sessions.set_state("acme", "s1", SessionState.HALTED)
    await submit(stack, 3)
    async with Running(stack.worker(halted_recheck_s=0.02, promote_every_s=0.01)):
        await asyncio.sleep(0.3)
        assert backend.calls == []
        assert await results(stack) == []
        await stack.sessions.set_state("acme", "s1", SessionState.RUNNING)
        await eventually(lambda: _count(stack, 3))
    info = await stack.sessions.get("acme", "s1")
    assert info is not None
    assert info.retried == 0  # waiting is not retrying


@pytest.mark.parametrize("grace_s", [0.01])
async def test_stop_hands_unfinished_tasks_back(
    tmp_path: Path, fake_redis: aioredis.Redis, keyspace: Keyspace, grace_s: float
) -> None:
    stack = make_stack(tmp_path, fake_redis, keyspace, FakeBackend(delay_s=5))
    await submit(stack, 5)
    worker = stack.worker(grace_s=grace_s)
    async with Running(worker):
        await eventually(lambda: _pending(stack, 5))
    # Handed back as fresh entries: nothing pending, five waiting for the next worker.
    stats = await stack.queue.stats("acme")
    assert stats.tasks.pending == 0
    assert stats.tasks.length == 5
    assert await results(stack) == []


async def _pending(stack: Stack, n: int) -> bool:
    return (await stack.queue.stats("acme")).tasks.pending >= n


async def test_redelivered_entry_runs_alone(
    tmp_path: Path, fake_redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    backend = FakeBackend(delay_s=0.1)
    stack = make_stack(tmp_path, fake_redis, keyspace, backend)
    await stack.planner().submit([Submission("acme", "echo", {"text": "suspect"})], session="s1")
    # Two workers died holding it: delivered twice, so the next delivery is the third.
    await stack.queue.read_tasks("died-holding-it", ["acme"], 1, 10)
    await stack.queue.claim_stale("died-too", ["acme"], 0, 1)
    await submit(stack, 6)
    await asyncio.sleep(0.06)
    async with Running(stack.worker(concurrency=10, lease_ms=50)):
        await eventually(lambda: _count(stack, 7))
    assert backend.company["suspect"] == 1  # nothing else was in flight beside it
    assert backend.peak >= 2  # while the others did run together


async def test_worker_audits_started_retried_reclaimed_and_dead_lettered(
    tmp_path: Path, fake_redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    from chimera.models.audit import AuditEventType
    from chimera.services.audit import FanoutAuditLogger
    from tests.chimera.helpers import RecordingSink

    sink = RecordingSink()
    backend = FakeBackend(fail_times=99, error=BackendError("down"))
    stack = make_stack(
        tmp_path, fake_redis, keyspace, backend, retry={"max_attempts": 2, "backoff_base_s": 0.01}
    )
    stack.audit = FanoutAuditLogger([sink])
    [task_id] = await submit(stack, 1)
    await stack.queue.read_tasks("died", ["acme"], 1, 10)  # left pending by a dead worker
    await asyncio.sleep(0.06)
    async with Running(stack.worker(lease_ms=50, promote_every_s=0.01)):
        await eventually(lambda: _dlq_len(stack, 1))
    kinds = [e.type for e in sink.events if e.task_id == task_id]
    assert AuditEventType.RECLAIMED in kinds
    assert AuditEventType.STARTED not in kinds  # the ending records carry the start
    assert AuditEventType.RETRIED in kinds
    assert kinds[-1] is AuditEventType.DEAD_LETTERED
    worker_events = [
        e for e in sink.events if e.task_id == task_id and e.type is not AuditEventType.SUBMITTED
    ]
    assert all(e.actor.startswith("worker:") for e in worker_events)


async def test_failed_flush_keeps_the_finished_work_and_sends_it_later(
    tmp_path: Path, fake_redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    stack = make_stack(tmp_path, fake_redis, keyspace, FakeBackend())
    await submit(stack, 5)
    complete = stack.queue.complete
    calls: list[int] = []

    async def flaky_complete(done):  # type: ignore[no-untyped-def]
        calls.append(len(done))
        if len(calls) == 1:
            raise ConnectionError("Redis went away")
        return await complete(done)

    stack.queue.complete = flaky_complete  # type: ignore[method-assign]
    async with Running(stack.worker()):
        await eventually(lambda: _count(stack, 5))
    assert len(calls) >= 2
    assert sum(calls[1:]) == 5  # everything from the failed flush was sent again, once
    assert sorted({r.task_id for r in await results(stack)}) == sorted(
        [r.task_id for r in await results(stack)]
    )


async def test_a_dead_letter_that_lost_the_race_is_not_reported(
    tmp_path: Path, fake_redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    from chimera.models.audit import AuditEventType
    from chimera.ports.queue import DeadLetter
    from chimera.services.audit import FanoutAuditLogger
    from chimera.services.worker.core import GiveUp
    from chimera.services.worker.task_run import TaskRun
    from tests.chimera.helpers import RecordingSink

    sink = RecordingSink()
    stack = make_stack(tmp_path, fake_redis, keyspace, FakeBackend())
    stack.audit = FanoutAuditLogger([sink])
    await submit(stack, 1)
    [delivery] = await stack.queue.read_tasks("slow", ["acme"], 1, 10)
    [taken] = await stack.queue.claim_stale("fast", ["acme"], 0, 1)
    await stack.queue.complete([(taken, make_result(taken.message))])  # the other one finished
    reported: list[Any] = []
    worker = stack.worker("slow", on_dead_letter=lambda d, letter: reported.append(letter))
    letter = DeadLetter("gave up after 3 attempts", 3, "down")
    worker.outbox.post(TaskRun(delivery, GiveUp(letter)))
    await worker.outbox.flush()
    await worker.outbox.flush()
    assert reported == []
    assert await fake_redis.xlen(stack.keys().dlq) == 0
    assert not [e for e in sink.events if e.type is AuditEventType.DEAD_LETTERED]
