"""A Judge renews the leases of the Results it is judging: a slow batch is not judged twice."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import redis.asyncio as aioredis

from chimera.lib.keys import Keyspace
from chimera.models.decision import Decision
from chimera.ports.judge import CommitOutcome, PolicyInput
from chimera.services.judge import Judge, JudgeSettings
from chimera.services.judge_policy import decide_by_thresholds
from chimera.services.planner import Submission
from tests.chimera.helpers import FakeBackend, Running, eventually, write_swarm
from tests.chimera.stack import Stack

LEASE_MS = 500


class SlowPolicy:
    """The threshold policy, taking several leases to answer (an outside service)."""

    name = "threshold"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.calls: Counter[str] = Counter()

    async def decide(self, item: PolicyInput) -> Decision:
        self.calls[item.task.id] += 1
        await asyncio.sleep(self.seconds)
        return decide_by_thresholds(item, self.name)


async def test_results_held_by_a_slow_judge_are_not_taken_over(
    redis_client: aioredis.Redis, keyspace: Keyspace, tmp_path: Path
) -> None:
    stack = Stack(write_swarm(tmp_path), redis_client, keyspace, {"fake": FakeBackend()})
    tasks = await stack.planner().submit(
        [Submission("acme", "echo", {"text": f"t{i}"}) for i in range(3)]
    )
    async with Running(stack.worker()):
        await eventually(lambda: _results(stack, 3))
    policy = SlowPolicy(seconds=4 * LEASE_MS / 1000)
    settings = JudgeSettings(lease_ms=LEASE_MS, block_ms=20)
    judge = Judge(
        stack.swarm,
        stack.queue,
        stack.uow,
        {"threshold": policy},
        stack.audit,
        consumer="slow",
        settings=settings,
    )
    held = await stack.queue.read_results("slow", ["acme"], 10, 10)
    assert len(held) == 3
    judging = asyncio.create_task(judge.judge(held))
    taken = []
    while not judging.done():
        # Another Judge looks for abandoned Results all along: none are, though the batch
        # has been held for several leases.
        taken += await stack.queue.claim_stale_results("other", ["acme"], LEASE_MS, 10)
        await asyncio.sleep(LEASE_MS / 3000)
    verdicts = await judging
    assert taken == []
    assert [o for _, o in verdicts.items] == [CommitOutcome.COMMITTED] * 3
    assert policy.calls == Counter(t.id for t in tasks)  # each judged once
    assert (await stack.queue.stats("acme")).results.pending == 0


async def _results(stack: Stack, n: int) -> bool:
    return bool(await stack.client.xlen(stack.keys("acme").results) >= n)
