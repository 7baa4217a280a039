"""The Python client driving a swarm from a script: real Redis, a Worker in this process.

The FastAPI example of ``docs/client.md`` makes exactly the calls of
``test_the_web_endpoint_of_the_docs_submits_and_waits``.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

import chimera
from chimera import Client, Outcome, TaskState
from chimera.lib.keys import Keyspace
from tests.chimera.ops_support import write_ops_swarm
from tests.conftest import REDIS_URL


@pytest.fixture
def swarm(tmp_path: Path) -> Path:
    return write_ops_swarm(tmp_path)


@pytest.fixture
async def client(swarm: Path, keyspace: Keyspace, real_redis: aioredis.Redis) -> Any:
    async with Client.from_swarm(swarm, REDIS_URL, prefix=keyspace.prefix, actor="app") as c:
        yield c


async def test_submit_and_wait_for_each_outcome(client: Client) -> None:
    async with client.serve(concurrency=20):
        approve = await client.submit("acme", "approve", {"text": "hi"})
        outcome = await client.wait(approve, timeout_s=30)
        assert (outcome.state, outcome.output, outcome.committed) == (
            TaskState.COMMITTED,
            {"answer": "yes"},
            True,
        )
        assert outcome.result is not None
        assert outcome.result.prompt == "Answer hi."
        tasks = await client.submit_many(
            [{"tenant": "globex", "skill": s, "input": {"text": s}} for s in ("deny", "park")]
        )
        outcomes = await client.wait_all(tasks, timeout_s=30)
    assert [o.state for o in outcomes] == [TaskState.DENIED, TaskState.REVIEW]
    assert all(o.done for o in outcomes)
    assert tasks[0].session == tasks[1].session
    by_id = await client.result(approve.id)
    assert by_id.state is TaskState.COMMITTED
    assert (await client.result("01ARZ3NDEKTSV4RRFFQ69G5FAV")).state is TaskState.UNKNOWN


async def test_a_task_that_does_not_settle_in_time_raises(client: Client) -> None:
    task = await client.submit("acme", "approve", {"text": "no worker runs"})
    with pytest.raises(TimeoutError, match="still pending"):
        await client.wait(task, timeout_s=0.1)
    [pending] = await client.wait_all([task.id], timeout_s=0.05)
    assert pending.state is TaskState.PENDING
    assert not pending.done


async def test_outcomes_of_a_session_arrive_once_each(client: Client) -> None:
    tasks = await client.submit_many(
        [{"tenant": "acme", "skill": "approve", "input": {"text": str(i)}} for i in range(5)],
        session="s-outcomes",
    )
    seen: list[Outcome] = []
    async with client.serve(concurrency=20):
        async for outcome in client.outcomes(tenant="acme", session="s-outcomes", poll_s=0.05):
            seen.append(outcome)
    assert sorted(o.task_id for o in seen) == sorted(t.id for t in tasks)
    assert {o.state for o in seen} == {TaskState.COMMITTED}
    with pytest.raises(chimera.NoSuchSession):
        async for _ in client.outcomes(tenant="acme", session="nope"):
            pass


async def test_cancel_and_review_from_the_client(client: Client) -> None:
    queued = await client.submit("acme", "approve", {"text": "never"})
    [cancelled] = await client.cancel(queued.id, reason="changed my mind")
    assert (cancelled.cancelled, cancelled.state, cancelled.tenant) == (
        True,
        TaskState.CANCELLED,
        "acme",
    )
    parked = await client.submit("acme", "park", {"text": "draft"})
    async with client.serve(concurrency=20):
        assert (await client.wait(parked, timeout_s=30)).state is TaskState.REVIEW
        [(tenant, item)] = await client.review.list(skill="park", newer_than=timedelta(hours=1))
        assert (tenant, item.task.id) == ("acme", parked.id)
        sent_back = await client.review.reject(parked.id, "warmer please", retry=True)
        assert sent_back.outcome == "retried"
        again = await client.wait(parked.id, timeout_s=30)
        assert (again.state, again.attempt) == (TaskState.REVIEW, 2)
        _, item = await client.review.show(parked.id)
        assert item.task.feedback == "warmer please"
        assert item.result.prompt == "Answer draft. Reviewer said: warmer please"
        with pytest.raises(chimera.RetryRefused):
            await client.review.reject(parked.id, "again", retry=True)
        approved = await client.review.approve(parked.id, note="good now")
    assert approved.outcome == "committed"
    assert (await client.result(queued.id)).state is TaskState.CANCELLED
    assert (await client.result(parked.id)).state is TaskState.COMMITTED
    with pytest.raises(chimera.NothingToCancel):
        await client.cancel("01ARZ3NDEKTSV4RRFFQ69G5FAV")
    with pytest.raises(chimera.PlanningError, match=r"unknown skill 'nope'"):
        await client.submit("acme", "nope", {"text": "x"})


async def test_the_web_endpoint_of_the_docs_submits_and_waits(client: Client) -> None:
    # The body of the FastAPI endpoint in docs/client.md.
    async def classify(tenant: str, text: str) -> dict[str, Any]:
        task = await client.submit(tenant, "approve", {"text": text})
        try:
            outcome = await client.wait(task, timeout_s=30)
        except TimeoutError:
            return {"task_id": task.id, "state": "pending"}
        return {"task_id": task.id, "state": outcome.state.value, "output": outcome.output}

    async with client.serve(concurrency=20):
        answers = await asyncio.gather(*(classify("acme", f"q{i}") for i in range(10)))
    assert {a["state"] for a in answers} == {"committed"}
    assert len({a["task_id"] for a in answers}) == 10


async def test_an_unconnected_client_says_so(swarm: Path) -> None:
    client = Client.from_swarm(swarm, REDIS_URL)
    with pytest.raises(chimera.client.NotConnected):
        await client.submit("acme", "approve", {"text": "x"})


async def test_the_embedded_redis_runs_a_notebook_session(swarm: Path) -> None:
    async with Client.from_swarm(swarm, embedded=True) as client:
        task = await client.submit("acme", "approve", {"text": "offline"})
        async with client.serve(concurrency=4):
            outcome = await client.wait(task, timeout_s=30)
    assert outcome.output == {"answer": "yes"}
