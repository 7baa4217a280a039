"""Contract of the ResultStore and the TaskStatusStore."""

from __future__ import annotations

import pytest

from chimera.models.decision import Verdict
from chimera.ports.queue import DeadLetter
from chimera.ports.stores import TaskState
from tests.chimera.contracts.backends import Backend
from tests.chimera.contracts.flow import Flow
from tests.chimera.contracts.flow import make_task as make_flow_task


@pytest.fixture
def flow(backend: Backend) -> Flow:
    return Flow(backend)


async def test_committed_results_in_task_id_order(flow: Flow, backend: Backend) -> None:
    tasks = [make_flow_task(i) for i in range(4)]
    committed = await flow.judge([tasks[2], tasks[0], tasks[3], tasks[1]], Verdict.APPROVE)
    await flow.judge([make_flow_task(9, tenant="globex")], Verdict.APPROVE)
    await flow.judge([make_flow_task(10)], Verdict.DENY)
    got = await backend.results.committed("acme")
    assert got == [r for _, r in sorted(committed, key=lambda pair: pair[0].id)]
    assert [r.task_id for r in got] == [t.id for t in tasks]
    assert [r.tenant for r in await backend.results.committed("globex")] == ["globex"]
    assert (await backend.queue.stats("acme")).committed == 4


async def test_committed_is_empty_for_a_tenant_with_nothing(backend: Backend) -> None:
    assert await backend.results.committed("acme") == []


async def test_an_unreadable_committed_result_is_left_out(flow: Flow, backend: Backend) -> None:
    [(_, result)] = await flow.judge([make_flow_task()], Verdict.APPROVE)
    await backend.probe.set_field("acme", "committed", "01ARZ3NDEKTSV4RRFFQ69G5FAV", "{}")
    assert await backend.results.committed("acme") == [result]


async def test_each_way_a_task_goes_shows_in_its_status(flow: Flow, backend: Backend) -> None:
    pending, parked, committed, denied, dead = (make_flow_task(i) for i in range(5))
    await flow.read([pending])
    [(_, parked_result)] = await flow.judge([parked], Verdict.REVIEW)
    [(_, result)] = await flow.judge([committed], Verdict.APPROVE)
    await flow.judge([denied], Verdict.DENY)
    [delivery] = await flow.read([dead])
    await flow.queue.dead_letter([(delivery, DeadLetter(reason="x", attempts=3))])
    status = backend.task_status.status
    got = await status("acme", pending.id)
    assert (got.state, got.task) == (TaskState.PENDING, pending)
    got = await status("acme", parked.id)
    assert (got.state, got.task, got.result) == (TaskState.REVIEW, parked, parked_result)
    assert got.decision is not None
    got = await status("acme", committed.id)
    assert (got.state, got.result) == (TaskState.COMMITTED, result)
    assert (await status("acme", denied.id)).state is TaskState.DENIED
    assert (await status("acme", dead.id)).state is TaskState.DEAD_LETTERED
    assert (await status("globex", committed.id)).state is TaskState.UNKNOWN
    assert (await status("acme", "no:such:id")).state is TaskState.UNKNOWN


async def test_settled_names_only_tasks_with_an_outcome(flow: Flow, backend: Backend) -> None:
    pending, parked, committed, denied = (make_flow_task(i) for i in range(4))
    await flow.read([pending])
    await flow.judge([parked], Verdict.REVIEW)
    [(_, result)] = await flow.judge([committed], Verdict.APPROVE)
    await flow.judge([denied], Verdict.DENY)
    ids = [pending.id, parked.id, committed.id, denied.id, "no:such:id"]
    found = await backend.task_status.settled("acme", ids)
    assert {task_id: s.state for task_id, s in found.items()} == {
        parked.id: TaskState.REVIEW,
        committed.id: TaskState.COMMITTED,
        denied.id: TaskState.DENIED,
    }
    assert found[committed.id].result == result
    assert await backend.task_status.settled("globex", ids) == {}
    assert await backend.task_status.settled("acme", []) == {}
