"""Contract of the ReviewStore: what the unit of work parks, a human decides once."""

from __future__ import annotations

import json

import pytest

from chimera.models.decision import Verdict
from chimera.ports.stores import ReviewItem
from tests.chimera.contracts.backends import Backend
from tests.chimera.contracts.flow import Flow, make_task, result_for


@pytest.fixture
def flow(backend: Backend) -> Flow:
    return Flow(backend)


async def test_review_lists_parked_items_oldest_task_first(flow: Flow, backend: Backend) -> None:
    tasks = [make_task(i) for i in range(3)]
    parked = await flow.judge(list(reversed(tasks)), Verdict.REVIEW)
    items = await backend.reviews.list("acme")
    assert [item.task for item in items] == tasks
    results = {task.id: result for task, result in parked}
    for item in items:
        assert item.result == results[item.task.id]
        assert item.decision.verdict is Verdict.REVIEW
        assert item.decision.task_id == item.task.id
    assert await backend.reviews.list("globex") == []
    assert (await backend.queue.stats("acme")).review == 3


async def test_review_approve_commits_once(flow: Flow, backend: Backend) -> None:
    [(task, result)] = await flow.judge([make_task()], Verdict.REVIEW)
    store = backend.reviews
    [item] = await store.list("acme")
    assert await store.decide("acme", item, approve=True) == "committed"
    assert (await backend.probe.hash("acme", "settled"))[task.id] == "committed"
    assert task.id not in await backend.probe.hash("acme", "ledger")
    assert await store.list("acme") == []
    assert await backend.results.committed("acme") == [result]
    counters = await flow.session_counters("acme", "s1")
    assert (counters["review"], counters["committed"]) == ("0", "1")
    # A second human acting on the same (stale) item changes nothing.
    assert await store.decide("acme", item, approve=True) == "missing"
    assert await store.decide("acme", item, approve=False) == "missing"
    counters = await flow.session_counters("acme", "s1")
    assert (counters["review"], counters["committed"]) == ("0", "1")
    assert "denied" not in counters


async def test_review_reject_denies_without_committing(flow: Flow, backend: Backend) -> None:
    [(task, _)] = await flow.judge([make_task()], Verdict.REVIEW)
    [item] = await backend.reviews.list("acme")
    assert await backend.reviews.decide("acme", item, approve=False) == "denied"
    assert (await backend.probe.hash("acme", "settled"))[task.id] == "denied"
    assert await backend.results.committed("acme") == []
    counters = await flow.session_counters("acme", "s1")
    assert (counters["review"], counters["denied"]) == ("0", "1")


async def test_review_approve_of_an_already_committed_task_is_a_duplicate(
    flow: Flow, backend: Backend
) -> None:
    [(task, _)] = await flow.judge([make_task()], Verdict.REVIEW)
    [item] = await backend.reviews.list("acme")
    # Another path already committed a Result under this task id (no adapter can get here
    # while the item is parked, so the row is written by hand).
    first = result_for(task, confidence=0.99)
    await backend.probe.set_field("acme", "committed", task.id, first.model_dump_json())
    assert await backend.reviews.decide("acme", item, approve=True) == "duplicate"
    assert await backend.results.committed("acme") == [first]
    assert await backend.reviews.list("acme") == []


async def test_review_item_fields_round_trip_through_the_store(
    flow: Flow, backend: Backend
) -> None:
    [(task, result)] = await flow.judge([make_task(7, session="s7")], Verdict.REVIEW)
    [item] = await backend.reviews.list("acme")
    assert isinstance(item, ReviewItem)
    assert item.task == task
    assert item.result == result
    assert item.decision.reason == "test says review"
    assert item.decision.session == "s7"


@pytest.mark.parametrize(
    "stored", ["not json", "[1, 2]", json.dumps({"task": {"id": "x"}}), json.dumps({})]
)
async def test_an_unreadable_review_item_is_left_out_of_the_listing(
    flow: Flow, backend: Backend, stored: str
) -> None:
    [(task, _)] = await flow.judge([make_task()], Verdict.REVIEW)
    await backend.probe.set_field("acme", "review", "01ARZ3NDEKTSV4RRFFQ69G5FAV", stored)
    assert [item.task.id for item in await backend.reviews.list("acme")] == [task.id]
