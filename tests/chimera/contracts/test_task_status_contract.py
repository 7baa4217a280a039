"""Looking a task up by id: what each stored record says about its state."""

from __future__ import annotations

import json

from chimera.models.decision import Decision, Verdict
from chimera.ports.stores import TaskState
from chimera.testing import make_result, make_task
from tests.chimera.contracts.backends import Backend


async def test_each_record_gives_its_state(backend: Backend) -> None:
    store, probe = backend.task_status, backend.probe
    pending, parked, committed, denied, dead = (make_task(tenant="acme") for _ in range(5))
    result = make_result(committed)
    parked_result = make_result(parked)
    decision = Decision.on(parked_result, Verdict.HITL, "sensitive skill", "threshold")
    await probe.set_field("acme", "ledger", pending.id, pending.model_dump_json())
    review = {
        "task": parked.model_dump(mode="json"),
        "result": parked_result.model_dump(mode="json"),
        "decision": decision.model_dump(mode="json"),
    }
    await probe.set_field("acme", "review", parked.id, json.dumps(review))
    await probe.set_field("acme", "ledger", parked.id, parked.model_dump_json())
    await probe.set_field("acme", "committed", committed.id, result.model_dump_json())
    await probe.set_field("acme", "settled", committed.id, "committed")
    await probe.set_field("acme", "settled", denied.id, "denied")
    await probe.set_field("acme", "settled", dead.id, "dead_lettered")

    found = await store.status("acme", pending.id)
    assert (found.state, found.task) == (TaskState.PENDING, pending)
    found = await store.status("acme", parked.id)
    assert (found.state, found.task, found.result) == (TaskState.REVIEW, parked, parked_result)
    assert found.decision is not None
    assert found.decision.reason == "sensitive skill"
    found = await store.status("acme", committed.id)
    assert (found.state, found.result) == (TaskState.COMMITTED, result)
    assert (await store.status("acme", denied.id)).state is TaskState.DENIED
    assert (await store.status("acme", dead.id)).state is TaskState.DEAD_LETTERED


async def test_other_tenants_and_strange_ids_are_unknown(backend: Backend) -> None:
    store, probe = backend.task_status, backend.probe
    task = make_task(tenant="acme")
    await probe.set_field("acme", "ledger", task.id, task.model_dump_json())
    assert (await store.status("globex", task.id)).state is TaskState.UNKNOWN
    assert (await store.status("acme", "*")).state is TaskState.UNKNOWN
    assert (await store.status("acme", "x" * 500)).state is TaskState.UNKNOWN


async def test_a_review_item_of_another_shape_still_reads_as_review(backend: Backend) -> None:
    store, probe = backend.task_status, backend.probe
    task = make_task(tenant="acme")
    item = {
        "task": task.model_dump(mode="json"),
        "result": {"not": "a result"},
        "proposed_call": {"tool": "issue_refund"},
    }
    await probe.set_field("acme", "review", task.id, json.dumps(item))
    found = await store.status("acme", task.id)
    assert (found.state, found.task, found.result) == (TaskState.REVIEW, task, None)
