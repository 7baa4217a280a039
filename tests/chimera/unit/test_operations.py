"""Cancel, review and task lookups as services on the fakes of the ports."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chimera.models.decision import Decision, Verdict
from chimera.ports.stores import ReviewItem, TaskState, TaskStatus
from chimera.services.cancel import CancelService, NothingToCancel
from chimera.services.outcomes import TaskLookup, outcome_of
from chimera.services.review import ReviewFilter, ReviewService
from chimera.services.sessions import NoSuchSession
from chimera.services.tenants import TenantScope, UnknownTenant
from chimera.testing import FakePorts, RecordingAuditLogger, make_result, make_task
from chimera.testing.fakes.pending import FakePendingAudit

NOW = datetime(2026, 5, 6, 12, tzinfo=UTC)


def services(ports: FakePorts) -> tuple[CancelService, ReviewService, RecordingAuditLogger]:
    audit = RecordingAuditLogger()
    scope = TenantScope(["acme", "globex"])
    pending = FakePendingAudit(ports.store)
    cancel = CancelService(
        ports.canceller, ports.task_status, ports.sessions, audit, scope, pending, lambda: NOW
    )
    review = ReviewService(
        ports.reviews, audit, ["acme", "globex"], pending, lambda task: 2, lambda: NOW
    )
    return cancel, review, audit


def park(ports: FakePorts, tenant: str, skill: str, age: timedelta, attempt: int = 1) -> ReviewItem:
    task = make_task(tenant=tenant, skill=skill).model_copy(
        update={"attempt": attempt, "max_attempts": 2}
    )
    result = make_result(task).model_copy(update={"attempt": attempt})
    decision = Decision.on(result, Verdict.REVIEW, "sensitive", "threshold").model_copy(
        update={"decided_at": NOW - age}
    )
    item = ReviewItem(task, result, decision, details={"proposed_calls": [{"tool": "refund"}]})
    data = ports.tenant(tenant)
    data.ledger[task.id] = task.model_dump_json()
    data.review[task.id] = json.dumps(
        {
            "task": task.model_dump(mode="json"),
            "result": result.model_dump(mode="json"),
            "decision": decision.model_dump(mode="json"),
            "proposed_calls": [{"tool": "refund"}],
        }
    )
    return item


async def test_cancel_finds_each_task_in_its_tenant_and_audits_it() -> None:
    ports = FakePorts()
    cancel, _, audit = services(ports)
    queued = make_task(tenant="globex")
    await ports.queue.enqueue([queued])
    parked = park(ports, "acme", "draft", timedelta(minutes=1))
    done = await cancel.cancel_tasks(
        [queued.id, parked.task.id, "01ARZ3NDEKTSV4RRFFQ69G5FAV", queued.id], "ops", "no"
    )
    assert [(c.tenant, c.cancelled, c.state) for c in done] == [
        ("globex", True, TaskState.CANCELLED),
        ("acme", True, TaskState.CANCELLED),
        (None, False, TaskState.UNKNOWN),
    ]  # an id given twice is cancelled (and listed) once
    assert ports.tenant("acme").review == {}
    kinds = [(e.type.value, e.tenant, e.actor) for e in audit.events]
    assert ("cancel_requested", "globex", "human:ops") in kinds
    assert ("cancelled", "acme", "human:ops") in kinds
    assert ports.tenant("acme").audit_pending == {}  # handed on, then cleared
    again = await cancel.cancel_tasks([queued.id], "ops", tenant="globex")
    assert (again[0].cancelled, again[0].state) == (False, TaskState.CANCELLED)
    with pytest.raises(NothingToCancel):
        await cancel.cancel_tasks(["01ARZ3NDEKTSV4RRFFQ69G5FAV"], "ops")
    with pytest.raises(UnknownTenant):
        await cancel.cancel_tasks([queued.id], "ops", tenant="nope")
    with pytest.raises(NoSuchSession):
        await cancel.cancel_session("acme", "nope", "ops")


class FailsSecondTime(RecordingAuditLogger):
    """Records the first call, then fails like a sink that went down."""

    async def record(self, events):  # type: ignore[no-untyped-def]
        await super().record(events)
        self.fail = True


async def test_a_failing_sink_after_the_cancel_leaves_the_event_pending() -> None:
    ports = FakePorts()
    cancel, _, _ = services(ports)
    cancel.audit = FailsSecondTime()
    task = make_task(tenant="acme")
    await ports.queue.enqueue([task])
    [done] = await cancel.cancel_tasks([task.id], "ops")
    assert done.cancelled
    assert len(ports.tenant("acme").audit_pending) == 1  # the sweep will send it


async def test_review_filters_by_skill_and_age_and_shows_details() -> None:
    ports = FakePorts()
    _, review, _ = services(ports)
    old = park(ports, "acme", "draft", timedelta(hours=3))
    new = park(ports, "globex", "classify", timedelta(minutes=2))
    ids = lambda found: [item.task.id for _, item in found]  # noqa: E731
    assert ids(await review.pending(where=ReviewFilter(older_than=timedelta(hours=1)))) == [
        old.task.id
    ]
    assert ids(await review.pending(where=ReviewFilter(newer_than=timedelta(hours=1)))) == [
        new.task.id
    ]
    assert ids(await review.pending(where=ReviewFilter(skill="classify"))) == [new.task.id]
    assert ids(await review.pending(where=ReviewFilter(tenant="acme"))) == [old.task.id]
    _, shown = await review.show(old.task.id)
    assert shown.details == {"proposed_calls": [{"tool": "refund"}]}


async def test_decide_all_goes_on_past_refusals_and_items_decided_meanwhile() -> None:
    ports = FakePorts()
    _, review, _ = services(ports)
    fresh = park(ports, "acme", "draft", timedelta(minutes=5))
    spent = park(ports, "acme", "draft", timedelta(minutes=5), attempt=2)
    decided = await review.decide_all(ReviewFilter(tenant="acme"), False, "rita", "x", retry=True)
    outcomes = {d.task_id: (d.outcome, d.detail) for d in decided}
    assert outcomes[fresh.task.id] == ("retried", None)
    assert outcomes[spent.task.id][0] == "refused"
    assert "attempt 2 of 2" in (outcomes[spent.task.id][1] or "")
    requeued = ports.tenant("acme").ledger[fresh.task.id]
    assert json.loads(requeued)["feedback"] == "x"
    # Someone else decided the refused one meanwhile: it reads missing, nothing fails.
    del ports.tenant("acme").review[spent.task.id]
    gone = await review._decide("acme", spent, True, "rita", None)
    assert gone.outcome == "missing"


async def test_waiting_pauses_longer_each_time_and_gives_up_at_the_deadline() -> None:
    ports = FakePorts()
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    lookup = TaskLookup(ports.task_status, ports.sessions, TenantScope(["acme"]), sleep)
    task = make_task(tenant="acme")
    await ports.queue.enqueue([task])
    [pending] = await lookup.wait([task], timeout_s=0)
    assert (pending.state, pending.task) == (TaskState.PENDING, task)
    ports.tenant("acme").settled[task.id] = "denied"
    [denied] = await lookup.wait([task])
    assert denied.state is TaskState.DENIED
    assert "chimera task show" in (denied.reason or "")
    assert (await lookup.find("01ARZ3NDEKTSV4RRFFQ69G5FAV")).state is TaskState.UNKNOWN


def test_an_outcome_reads_what_the_lookup_found(tmp_path: Path) -> None:
    task = make_task(tenant="acme")
    dead = outcome_of(TaskStatus(task.id, "acme", TaskState.DEAD_LETTERED), task)
    assert (dead.session, dead.skill, dead.done) == (task.session, task.skill, True)
    assert "dlq" in (dead.reason or "")
    assert dead.as_json()["previous"] == []
