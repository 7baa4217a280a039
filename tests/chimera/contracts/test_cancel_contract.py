"""Contract of cancelling: a cancelled task never runs again and nothing of it commits."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from chimera.models.audit import AuditEvent, AuditEventType
from chimera.models.decision import Verdict
from chimera.ports.judge import CommitOutcome, Judged
from chimera.ports.queue import AdmitAction
from chimera.ports.stores import Cancellation, CancelRequest, TaskState
from tests.chimera.contracts.backends import Backend
from tests.chimera.contracts.flow import Flow, decision_for, make_task, result_for

NOTE = Cancellation(actor="human:ops", reason="wrong input", at=datetime(2026, 1, 2, tzinfo=UTC))


@pytest.fixture
def flow(backend: Backend) -> Flow:
    return Flow(backend)


def request(task_id: str, session: str = "s1") -> CancelRequest:
    return CancelRequest(task_id, session, NOTE)


async def test_a_queued_task_is_cancelled_and_its_entry_dropped_unrun(backend: Backend) -> None:
    queue, canceller = backend.queue, backend.canceller
    task = make_task()
    await queue.enqueue([task])
    [reply] = await canceller.cancel("acme", [request(task.id)])
    assert (reply.task_id, reply.cancelled, reply.state) == (task.id, True, TaskState.CANCELLED)

    status = await backend.task_status.status("acme", task.id)
    assert status.state is TaskState.CANCELLED
    assert status.cancellation == NOTE
    assert task.id not in await backend.probe.hash("acme", "ledger")
    session = await backend.sessions.get("acme", "s1")
    assert (session.cancelled, session.settled, session.submitted) == (1, 1, 1)

    [delivery] = await queue.read_tasks("w1", ["acme"], count=10, block_ms=10)
    [admitted] = await queue.admit([delivery])
    assert admitted.action is AdmitAction.DISCARD
    assert "has settled" in admitted.reason
    assert await queue.discard([delivery]) == [True]
    assert await queue.discard([delivery]) == [False]  # acked already: nothing to drop
    assert await backend.probe.length("acme", "tasks") == 0
    assert (await queue.stats("acme")).tasks.pending == 0


async def test_the_cancellation_keeps_its_audit_event_in_the_same_step(backend: Backend) -> None:
    task, other = make_task(), make_task(1)
    await backend.queue.enqueue([task])
    event = AuditEvent(id="cancelled:1", type=AuditEventType.CANCELLED, tenant="acme")
    unknown = AuditEvent(id="cancelled:2", type=AuditEventType.CANCELLED, tenant="acme")
    replies = await backend.canceller.cancel(
        "acme",
        [
            CancelRequest(task.id, "s1", NOTE, event),
            CancelRequest(other.id, "s1", NOTE, unknown),
        ],
    )
    assert [r.cancelled for r in replies] == [True, False]
    kept = await backend.probe.hash("acme", "audit_pending")
    assert list(kept) == ["cancelled:1"]  # only what happened is kept
    assert AuditEvent.model_validate_json(kept["cancelled:1"]) == event


async def test_a_delayed_task_is_taken_out_of_the_delayed_set(backend: Backend) -> None:
    queue = backend.queue
    task = make_task()
    await queue.enqueue([task])
    [delivery] = await queue.read_tasks("w1", ["acme"], count=10, block_ms=10)
    traced = type(delivery)(
        delivery.tenant,
        delivery.entry_id,
        task,
        traceparent="00-" + "a" * 32 + "-" + "b" * 16 + "-01",
    )
    assert await queue.retry_later([(traced, task.next_attempt(), 0.0)]) == [True]
    assert list(await backend.probe.hash("acme", "delayed_traces")) == [task.id]
    assert len(await backend.probe.delayed("acme")) == 1

    [reply] = await backend.canceller.cancel("acme", [request(task.id)])
    assert reply.cancelled
    assert await backend.probe.delayed("acme") == []
    assert await queue.promote_due(["acme"], now=1e12) == 0
    assert await backend.probe.hash("acme", "delayed_traces") == {}


async def test_a_task_waiting_for_review_leaves_the_review_queue(
    flow: Flow, backend: Backend
) -> None:
    task = make_task()
    await flow.judge([task], Verdict.REVIEW)
    assert len(await backend.reviews.list("acme")) == 1

    [reply] = await backend.canceller.cancel("acme", [request(task.id)])
    assert reply.cancelled
    assert await backend.reviews.list("acme") == []
    session = await backend.sessions.get("acme", "s1")
    assert (session.review, session.cancelled) == (0, 1)
    assert (await backend.task_status.status("acme", task.id)).state is TaskState.CANCELLED


async def test_a_running_tasks_result_is_dropped_not_committed(
    flow: Flow, backend: Backend
) -> None:
    task = make_task()
    [delivery] = await flow.read([task])  # a Worker is running it
    [reply] = await backend.canceller.cancel("acme", [request(task.id)])
    assert reply.cancelled
    await backend.queue.complete([(delivery, result_for(task, confidence=0.99))])
    [answer] = await backend.queue.read_results("j1", ["acme"], count=10, block_ms=10)
    assert await backend.uow.lookup([answer]) == [None]  # no live task any more
    assert answer.message is not None
    item = Judged(answer, decision_for(answer.message, Verdict.DENY), None)
    assert await backend.uow.apply([item]) == [CommitOutcome.CANCELLED]
    assert await backend.probe.hash("acme", "committed") == {}
    assert (await backend.task_status.status("acme", task.id)).state is TaskState.CANCELLED


async def test_a_result_judged_before_the_cancel_landed_is_still_dropped(
    flow: Flow, backend: Backend
) -> None:
    task = make_task()
    [answer] = await flow.results([task])
    [looked_up] = await backend.uow.lookup([answer])  # the Judge saw a live task...
    await backend.canceller.cancel("acme", [request(task.id)])  # ...then it was cancelled
    assert answer.message is not None
    item = Judged(answer, decision_for(answer.message, Verdict.APPROVE), looked_up)
    assert await backend.uow.apply([item]) == [CommitOutcome.CANCELLED]
    assert await backend.probe.hash("acme", "committed") == {}


async def test_a_settled_task_keeps_its_outcome(flow: Flow, backend: Backend) -> None:
    [(task, _)] = await flow.judge([make_task()], Verdict.APPROVE)
    again = make_task(1)
    await backend.queue.enqueue([again])
    first = await backend.canceller.cancel("acme", [request(again.id)])
    replies = await backend.canceller.cancel(
        "acme", [request(task.id), request(again.id), request("01ARZ3NDEKTSV4RRFFQ69G5FAV")]
    )
    assert first[0].cancelled
    assert [(r.cancelled, r.state) for r in replies] == [
        (False, TaskState.COMMITTED),
        (False, TaskState.CANCELLED),
        (False, TaskState.UNKNOWN),
    ]
    assert (await backend.sessions.get("acme", "s1")).cancelled == 1
    stored = json.loads((await backend.probe.hash("acme", "cancelled"))[again.id])
    assert stored["actor"] == "human:ops"


async def test_a_session_knows_its_task_ids(backend: Backend) -> None:
    first = [make_task(i) for i in range(3)]
    await backend.queue.enqueue(first)
    later = make_task(9)
    await backend.queue.enqueue([later, make_task(5, session="other")])
    assert await backend.sessions.task_ids("acme", "s1") == sorted(t.id for t in [*first, later])
    assert await backend.sessions.task_ids("acme", "nobody") == []
