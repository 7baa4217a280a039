"""Contract of the UnitOfWork: each decision applied once, atomically with the ack."""

from __future__ import annotations

import json
import time

import pytest

from chimera.models.decision import Verdict
from chimera.ports.judge import CommitOutcome, Judged
from tests.chimera.contracts.backends import Backend
from tests.chimera.contracts.flow import Flow, decision_for, make_task, result_for


@pytest.fixture
def flow(backend: Backend) -> Flow:
    return Flow(backend)


async def test_lookup_finds_the_live_task_in_the_tenant_it_was_read_from(
    flow: Flow, backend: Backend
) -> None:
    task = make_task()
    [delivery] = await flow.results([task])
    assert await backend.uow.lookup([delivery]) == [task]
    elsewhere = type(delivery)("globex", delivery.entry_id, delivery.message)
    undecodable = type(delivery)("acme", "0-1", None)
    assert await backend.uow.lookup([elsewhere, undecodable]) == [None, None]


async def test_a_result_applied_twice_commits_once(flow: Flow, backend: Backend) -> None:
    task = make_task()
    [delivery] = await flow.results([task])
    [looked_up] = await backend.uow.lookup([delivery])
    assert delivery.message is not None
    item = Judged(delivery, decision_for(delivery.message, Verdict.APPROVE), looked_up)
    assert await backend.uow.apply([item, item]) == [
        CommitOutcome.COMMITTED,
        CommitOutcome.DUPLICATE,
    ]
    assert list(await backend.probe.hash("acme", "committed")) == [task.id]
    assert (await backend.probe.session("acme", "s1"))["committed"] == "1"
    assert (await backend.queue.stats("acme")).results.pending == 0
    assert await backend.probe.length("acme", "results") == 0


async def test_a_task_in_review_is_not_decided_again(flow: Flow, backend: Backend) -> None:
    task = make_task()
    [delivery] = await flow.results([task])
    assert delivery.message is not None
    park = Judged(delivery, decision_for(delivery.message, Verdict.REVIEW), task)
    approve = Judged(delivery, decision_for(delivery.message, Verdict.APPROVE), task)
    assert await backend.uow.apply([park, approve]) == [
        CommitOutcome.REVIEW,
        CommitOutcome.DUPLICATE,
    ]
    assert await backend.probe.hash("acme", "committed") == {}
    assert (await backend.probe.session("acme", "s1"))["review"] == "1"


async def test_retry_schedules_the_next_attempt_and_a_second_copy_is_a_duplicate(
    flow: Flow, backend: Backend
) -> None:
    task = make_task()
    [delivery] = await flow.results([task])
    [looked_up] = await backend.uow.lookup([delivery])
    assert delivery.message is not None
    decision = decision_for(delivery.message, Verdict.DENY, retry=True)
    nxt = task.next_attempt(feedback="try harder")
    due = time.time() + 30
    item = Judged(delivery, decision, looked_up, retry_task=nxt, retry_at=due)
    assert await backend.uow.apply([item]) == [CommitOutcome.RETRIED]
    assert await backend.probe.delayed("acme") == [nxt.model_dump_json()]
    assert (await backend.probe.hash("acme", "ledger"))[task.id] == nxt.model_dump_json()
    assert (await backend.probe.session("acme", "s1"))["retried"] == "1"
    # A second Judge that looked the task up before the retry compares against the old row.
    again = Judged(delivery, decision, task, retry_task=nxt, retry_at=due)
    assert await backend.uow.apply([again]) == [CommitOutcome.DUPLICATE]
    assert len(await backend.probe.delayed("acme")) == 1
    assert (await backend.probe.session("acme", "s1"))["retried"] == "1"


async def test_deny_settles_and_a_late_duplicate_is_reported(flow: Flow, backend: Backend) -> None:
    task = make_task()
    [delivery] = await flow.results([task])
    assert delivery.message is not None
    deny = Judged(delivery, decision_for(delivery.message, Verdict.DENY), task)
    assert await backend.uow.apply([deny]) == [CommitOutcome.DENIED]
    assert (await backend.probe.hash("acme", "settled"))[task.id] == "denied"
    assert task.id not in await backend.probe.hash("acme", "ledger")
    # The same Result read again finds no live task: the Judge rejects it, and the unit
    # of work tells that it answered a task of this tenant that has settled.
    late = Judged(delivery, decision_for(delivery.message, Verdict.DENY), None)
    assert await backend.uow.apply([late]) == [CommitOutcome.DUPLICATE]


async def test_a_forged_result_is_only_acked(flow: Flow, backend: Backend) -> None:
    victim = make_task(tenant="globex")
    await flow.judge([victim], Verdict.APPROVE)
    forged = result_for(victim, confidence=0.99)
    await backend.queue.ensure_groups(["acme"])
    await backend.probe.add_entry("acme", "results", {"body": forged.model_dump_json()})
    [delivery] = await backend.queue.read_results("j1", ["acme"], 10, 10)
    before = {name: await backend.probe.hash("acme", name) for name in ("ledger", "settled")}
    item = Judged(delivery, decision_for(forged, Verdict.DENY), None)
    # Read from acme's stream, it may not learn that the task id is settled in globex.
    assert await backend.uow.apply([item]) == [CommitOutcome.REJECTED]
    after = {name: await backend.probe.hash("acme", name) for name in ("ledger", "settled")}
    assert after == before
    assert (await backend.queue.stats("acme")).results.pending == 0


async def test_undecodable_result_is_rejected_and_acked(backend: Backend) -> None:
    await backend.queue.ensure_groups(["acme"])
    await backend.probe.add_entry("acme", "results", {"body": "{nope"})
    [delivery] = await backend.queue.read_results("j1", ["acme"], 10, 10)
    assert await backend.uow.lookup([delivery]) == [None]
    item = Judged(delivery, None, None)
    assert await backend.uow.apply([item]) == [CommitOutcome.REJECTED]
    assert (await backend.queue.stats("acme")).results.pending == 0
    assert await backend.uow.apply([]) == []


async def test_commit_compares_against_the_ledger_row_as_stored(
    flow: Flow, backend: Backend
) -> None:
    task = make_task()
    # Another writer (an older or newer chimera) spelled the same Task differently.
    await backend.queue.enqueue([task])
    row = json.loads(task.model_dump_json())
    respelled = json.dumps(dict(reversed(list(row.items()))))
    await backend.probe.set_field("acme", "ledger", task.id, respelled)
    [work] = await backend.queue.read_tasks("w1", ["acme"], 1, 10)
    await backend.queue.complete([(work, result_for(task))])
    [delivery] = await backend.queue.read_results("j1", ["acme"], 1, 10)
    [looked_up] = await backend.uow.lookup([delivery])
    assert looked_up == task
    assert delivery.message is not None
    item = Judged(delivery, decision_for(delivery.message, Verdict.APPROVE), looked_up)
    assert await backend.uow.apply([item]) == [CommitOutcome.COMMITTED]


async def test_a_result_no_judge_could_judge_dead_letters_its_live_task_once(
    flow: Flow, backend: Backend
) -> None:
    from chimera.models.audit import AuditEvent, AuditEventType
    from chimera.ports.judge import Unjudgeable
    from chimera.ports.queue import DeadLetter

    live, moved = make_task(0), make_task(1)
    first, second = await flow.results([live, moved])
    tasks = await backend.uow.lookup([first, second])
    assert tasks == [live, moved]
    # The second task moved on to another attempt meanwhile: its Result is stale.
    await backend.probe.set_field(
        "acme", "ledger", moved.id, moved.next_attempt().model_dump_json()
    )
    event = AuditEvent(type=AuditEventType.DEAD_LETTERED, tenant="acme", actor="judge", data={})
    items = [
        Unjudgeable(first, live, DeadLetter("config drift: x", 1), event),
        Unjudgeable(second, moved, DeadLetter("config drift: y", 1)),
    ]
    assert await backend.uow.dead_letter(items) == [True, False]
    [entry] = await backend.dead_letters.list("acme")
    assert (entry.task, entry.reason) == (live, "config drift: x")
    settled = await backend.probe.hash("acme", "settled")
    assert settled == {live.id: "dead_lettered"}
    assert live.id not in await backend.probe.hash("acme", "ledger")
    assert moved.id in await backend.probe.hash("acme", "ledger")  # untouched
    assert (await backend.probe.session("acme", "s1"))["dead_lettered"] == "1"
    assert list(await backend.probe.hash("acme", "audit_pending")) == [event.id]
    assert (await backend.queue.stats("acme")).results.pending == 0  # both acked
    assert await backend.probe.length("acme", "results") == 0
    # Again (a lost reply, another Judge): nothing more happens.
    [again] = await backend.uow.lookup([first])
    assert again is None
    assert await backend.uow.dead_letter([]) == []
