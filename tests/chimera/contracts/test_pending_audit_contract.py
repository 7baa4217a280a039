"""Contract of the pending audit events: kept by the same atomic step as the change they
report, only when it happens, and forgotten once the sinks have them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chimera.models.audit import AuditEvent, AuditEventType
from chimera.models.decision import Verdict
from chimera.models.types import utc_now
from chimera.ports.judge import CommitOutcome, Judged, OutcomeEvents
from chimera.ports.queue import DeadLetter
from chimera.ports.stores import ReviewItem
from tests.chimera.contracts.backends import Backend
from tests.chimera.contracts.flow import Flow, decision_for, make_task


@pytest.fixture
def flow(backend: Backend) -> Flow:
    return Flow(backend)


def note(kind: AuditEventType, task_id: str, suffix: str = "") -> AuditEvent:
    return AuditEvent(
        id=f"{kind.value}:{task_id}{suffix}", type=kind, tenant="acme", task_id=task_id
    )


def events_for(task_id: str) -> OutcomeEvents:
    return OutcomeEvents(
        done=note(AuditEventType.COMMITTED, task_id),
        duplicate_id=f"{AuditEventType.DUPLICATE.value}:{task_id}:late",
    )


async def pending_ids(backend: Backend) -> list[str]:
    return sorted(await backend.probe.hash("acme", "audit_pending"))


async def test_a_commit_keeps_its_event_and_a_duplicate_its_own(
    flow: Flow, backend: Backend
) -> None:
    task = make_task()
    [delivery] = await flow.results([task])
    assert delivery.message is not None
    item = Judged(
        delivery,
        decision_for(delivery.message, Verdict.APPROVE),
        task,
        events=events_for(task.id),
    )
    assert await backend.uow.apply([item, item]) == [
        CommitOutcome.COMMITTED,
        CommitOutcome.DUPLICATE,
    ]
    assert await pending_ids(backend) == [f"committed:{task.id}", f"duplicate:{task.id}:late"]
    kept = await backend.probe.hash("acme", "audit_pending")
    assert AuditEvent.model_validate_json(kept[f"committed:{task.id}"]) == item.events.done  # type: ignore[union-attr]


async def test_a_duplicate_keeps_the_outcome_event_under_its_own_id_and_type(
    flow: Flow, backend: Backend
) -> None:
    task = make_task()
    [delivery] = await flow.results([task])
    assert delivery.message is not None
    done = AuditEvent(
        id=f"retried:{task.id}:1",
        type=AuditEventType.RETRIED,
        tenant="acme",
        session=None,
        task_id=task.id,
        actor="judge",
        data={"outcome": "retried", "skill": "s/é", "judge": "j-1", "next_attempt": 2},
    )
    events = OutcomeEvents(done=done, duplicate_id=f"duplicate:{task.id}:1:{delivery.entry_id}")
    item = Judged(delivery, decision_for(delivery.message, Verdict.APPROVE), task, events=events)
    assert await backend.uow.apply([item, item]) == [
        CommitOutcome.COMMITTED,
        CommitOutcome.DUPLICATE,
    ]
    kept = await backend.probe.hash("acme", "audit_pending")
    duplicate = AuditEvent.model_validate_json(kept[events.duplicate_id])
    assert duplicate == events.duplicate
    assert duplicate.type is AuditEventType.DUPLICATE
    assert duplicate.data == {"outcome": "duplicate", "skill": "s/é", "judge": "j-1"}


async def test_a_retry_and_a_dead_letter_keep_their_events_only_when_they_happen(
    flow: Flow, backend: Backend
) -> None:
    first, second = make_task(1), make_task(2)
    retried, dead = await flow.read([first, second])
    assert retried.message is not None
    assert dead.message is not None
    nxt = retried.message.next_attempt()
    retry_note = note(AuditEventType.RETRIED, first.id)
    dead_note = note(AuditEventType.DEAD_LETTERED, second.id)
    assert await backend.queue.retry_later([(retried, nxt, 1.0)], events=[retry_note]) == [True]
    letter = DeadLetter("gave up", 3, "down")
    assert await backend.queue.dead_letter([(dead, letter)], events=[dead_note]) == [True]
    assert await pending_ids(backend) == sorted([retry_note.id, dead_note.id])
    # The same entries again: nothing happens, so no event is kept for it.
    await backend.pending_audit.clear([retry_note, dead_note])
    assert await backend.queue.retry_later([(retried, nxt, 1.0)], events=[retry_note]) == [False]
    assert await backend.queue.dead_letter([(dead, letter)], events=[dead_note]) == [False]
    assert await pending_ids(backend) == []


async def test_a_human_decision_keeps_its_outcome_event(flow: Flow, backend: Backend) -> None:
    task = make_task()
    [delivery] = await flow.results([task])
    assert delivery.message is not None
    decision = decision_for(delivery.message, Verdict.REVIEW)
    park = Judged(delivery, decision, task)
    assert await backend.uow.apply([park]) == [CommitOutcome.REVIEW]
    item = ReviewItem(task=task, result=delivery.message, decision=decision)
    assert await backend.reviews.decide("acme", item, True, events_for(task.id)) == "committed"
    assert await backend.reviews.decide("acme", item, True, events_for(task.id)) == "missing"
    assert await pending_ids(backend) == [f"committed:{task.id}"]


async def test_stale_lists_only_events_older_than_asked_and_clear_forgets_them(
    flow: Flow, backend: Backend
) -> None:
    task = make_task()
    old = note(AuditEventType.COMMITTED, task.id).model_copy(
        update={"at": utc_now() - timedelta(minutes=5)}
    )
    young = note(AuditEventType.DUPLICATE, task.id, ":late")
    for event in (old, young):
        await backend.probe.set_field("acme", "audit_pending", event.id, event.model_dump_json())
    stale = await backend.pending_audit.stale("acme", utc_now() - timedelta(minutes=1))
    assert stale == [old]
    await backend.pending_audit.clear(stale)
    assert await pending_ids(backend) == [young.id]
