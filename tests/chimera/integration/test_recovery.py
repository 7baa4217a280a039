"""T027: a worker reads a task and dies before acking; the task stays pending and another
worker recovers and completes it. Against fakeredis and a real Redis."""

from __future__ import annotations

import asyncio
from pathlib import Path

import redis.asyncio as aioredis

from chimera.lib.keys import Keyspace
from chimera.models.result import Result
from chimera.services.planner import Submission
from tests.chimera.helpers import FakeBackend, Running, eventually, write_swarm
from tests.chimera.stack import Stack


async def test_dead_workers_task_is_recovered(
    tmp_path: Path, redis_client: aioredis.Redis, keyspace: Keyspace
) -> None:
    backend = FakeBackend()
    stack = Stack(write_swarm(tmp_path), redis_client, keyspace, {"fake": backend})
    [task] = await stack.planner().submit([Submission("acme", "echo", {"text": "x"})])
    # The doomed worker takes the task and never acks it.
    taken = await stack.queue.read_tasks("doomed", ["acme"], 10, 10)
    assert [d.message.id for d in taken if d.message] == [task.id]
    assert (await stack.queue.stats("acme")).tasks.pending == 1
    # A healthy worker with a short lease reclaims and completes it.
    async with Running(stack.worker("healthy", lease_ms=200)):
        await eventually(lambda: _results(stack, 1), within=5)
    entries = await redis_client.xrange(stack.keys().results)
    [result] = [Result.model_validate_json(f["body"]) for _, f in entries]
    assert result.task_id == task.id
    assert result.worker == "healthy"
    assert (await stack.queue.stats("acme")).tasks.pending == 0


async def _results(stack: Stack, n: int) -> bool:
    return bool(await stack.client.xlen(stack.keys().results) >= n)


async def test_long_call_is_not_reclaimed_while_its_lease_is_renewed(
    tmp_path: Path, redis_client: aioredis.Redis, keyspace: Keyspace
) -> None:
    backend = FakeBackend(delay_s=1.0)
    stack = Stack(write_swarm(tmp_path), redis_client, keyspace, {"fake": backend})
    await stack.planner().submit([Submission("acme", "echo", {"text": "slow"})])
    first = stack.worker("first", lease_ms=300)
    second = stack.worker("second", lease_ms=300)
    async with Running(first):
        await eventually(lambda: _pending(stack), within=3)
        async with Running(second):
            await asyncio.sleep(0.1)
            # Well past the lease; the first worker's renewals keep the entry its own.
            assert await second.reclaim() == 0
            await eventually(lambda: _results(stack, 1), within=5)
    assert len(backend.calls) == 1


async def _pending(stack: Stack) -> bool:
    return (await stack.queue.stats("acme")).tasks.pending == 1
