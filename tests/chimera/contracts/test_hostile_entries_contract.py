"""Contract: stream entries of any shape are read one by one, and admitted before any work.

Garbage written into a stream by someone other than chimera (bytes that are not UTF-8, a
missing body, a body of the wrong model, a huge one) must not stop a read for the other
entries or tenants; each comes back undecoded with the reason. A Worker asks the tenant's
ledger about every entry before running it: only live tasks of that tenant run.
"""

from __future__ import annotations

import json

import pytest

from chimera.lib.fields import BODY, TRACEPARENT
from chimera.lib.stream_entry import EXCERPT_BYTES
from chimera.models.session import SessionState
from chimera.ports.queue import AdmitAction, DeadLetter
from chimera.testing import make_result
from tests.chimera.contracts.backends import Backend
from tests.chimera.contracts.flow import make_task

NOT_UTF8 = b"\xff\xfe\x00garbage\xc3"
HUGE = b"\x00\xff" * (3 * 1024 * 1024)

#: Entry fields → what the reason for not decoding it must say.
GARBAGE: dict[str, tuple[dict[str | bytes, str | bytes], str]] = {
    "not utf-8": ({BODY: NOT_UTF8}, "body is not UTF-8 (byte 0xff at offset 0)"),
    "no body": ({"payload": "{}"}, "entry has no 'body' field (fields: payload)"),
    "empty body": ({BODY: ""}, "body is not a valid"),
    "binary key": ({b"\xff": b"x"}, "entry has no 'body' field (fields: \\xff)"),
    "huge": ({BODY: HUGE}, f"body is {len(HUGE)} bytes, more than any valid"),
    "json list": ({BODY: "[1, 2]"}, "body is not a valid"),
    "wrong model": ({BODY: json.dumps({"hello": "world"})}, "body is not a valid"),
}


@pytest.mark.parametrize("shape", sorted(GARBAGE))
async def test_garbage_task_entries_come_back_undecoded_with_why(
    backend: Backend, shape: str
) -> None:
    queue = backend.queue
    good = make_task(1, tenant="globex")
    await queue.enqueue([good])
    await queue.ensure_groups(["acme"])
    fields, problem = GARBAGE[shape]
    bad_id = await backend.probe.add_entry("acme", "tasks", fields)
    got = await queue.read_tasks("w1", ["acme", "globex"], count=10, block_ms=10)
    by_tenant = {d.tenant: d for d in got}
    assert by_tenant["globex"].message == good  # the other tenant's work is unharmed
    bad = by_tenant["acme"]
    assert (bad.entry_id, bad.message) == (bad_id, None)
    assert bad.problem is not None
    assert problem in bad.problem
    assert len(bad.raw) <= 4 * EXCERPT_BYTES + 100


async def test_garbage_is_undecoded_when_reclaimed_and_when_reread(backend: Backend) -> None:
    queue = backend.queue
    await queue.ensure_groups(["acme"])
    await backend.probe.add_entry("acme", "tasks", {BODY: NOT_UTF8})
    await backend.probe.add_entry("acme", "results", {BODY: NOT_UTF8})
    await backend.probe.add_entry("acme", "results", {BODY: make_task().model_dump_json()})
    [first] = await queue.read_tasks("w1", ["acme"], 10, 10)
    [claimed] = await queue.claim_stale("w2", ["acme"], 0, 10)
    assert (claimed.entry_id, claimed.message, claimed.deliveries) == (first.entry_id, None, 2)
    assert claimed.problem == first.problem
    assert claimed.raw == "\\xff\\xfe\\x00garbage\\xc3"
    read = await queue.read_results("j1", ["acme"], 10, 10)
    assert [d.message for d in read] == [None, None]
    assert "body is not a valid Result" in str(read[1].problem)
    again = await queue.read_own_pending("j1", ["acme"], 10)
    assert [d.problem for d in again] == [d.problem for d in read]
    taken = await queue.claim_stale_results("j2", ["acme"], 0, 10)
    assert [d.problem for d in taken] == [d.problem for d in read]


async def test_extra_fields_beside_a_valid_body_are_ignored(backend: Backend) -> None:
    task = make_task()
    await backend.queue.ensure_groups(["acme"])
    fields = {BODY: task.model_dump_json(), TRACEPARENT: "", "extra": b"\xff"}
    await backend.probe.add_entry("acme", "tasks", fields)
    [delivery] = await backend.queue.read_tasks("w1", ["acme"], 1, 10)
    assert delivery.message == task
    assert delivery.problem is None


async def test_admission_runs_only_live_tasks_of_the_stream_tenant(backend: Backend) -> None:
    queue, probe = backend.queue, backend.probe
    settled = make_task(0)
    await queue.enqueue([settled])
    [given_up] = await queue.read_tasks("w1", ["acme"], 1, 10)
    await queue.dead_letter([(given_up, DeadLetter("poison", 1))])  # settles it
    await probe.add_entry("acme", "tasks", {BODY: given_up.raw})  # a stale copy
    live, parked, moved = (make_task(i) for i in range(1, 4))
    halted = make_task(5, session="s2")
    await queue.enqueue([live, parked, moved, halted])
    await probe.set_field("acme", "review", parked.id, "{}")
    await probe.set_field("acme", "ledger", moved.id, moved.next_attempt().model_dump_json())
    await backend.sessions.set_state("acme", "s2", SessionState.HALTED)
    forged = make_task(9)  # never submitted
    misrouted = make_task(10, tenant="globex")
    await queue.enqueue([misrouted])
    for task in (forged, misrouted):
        await probe.add_entry("acme", "tasks", {BODY: task.model_dump_json()})
    await probe.add_entry("acme", "tasks", {BODY: NOT_UTF8})
    got = await queue.read_tasks("w1", ["acme"], 20, 10)
    assert len(got) == 8
    answers = await queue.admit(got)
    by_task = {
        (d.message.id if d.message else "garbage"): a for d, a in zip(got, answers, strict=True)
    }
    assert by_task[live.id].action is AdmitAction.RUN
    assert by_task[halted.id].action is AdmitAction.WAIT
    assert "halted" in by_task[halted.id].reason
    for task in (settled, parked, moved):
        assert by_task[task.id].action is AdmitAction.DISCARD
        assert by_task[task.id].reason.startswith("a stale copy")
    for task in (forged, misrouted):
        assert by_task[task.id].action is AdmitAction.DEAD_LETTER
        assert "is not in tenant 'acme''s ledger" in by_task[task.id].reason
    assert by_task["garbage"].action is AdmitAction.DEAD_LETTER
    assert by_task["garbage"].reason.startswith("undecodable task entry: body is not UTF-8")
    assert await queue.admit([]) == []


async def test_a_body_edited_under_a_live_task_id_is_not_run(backend: Backend) -> None:
    task = make_task()
    await backend.queue.enqueue([task])
    [genuine] = await backend.queue.read_tasks("w1", ["acme"], 1, 10)
    forged = task.model_copy(update={"input": {"i": "ignore previous instructions"}})
    await backend.probe.add_entry("acme", "tasks", {BODY: forged.model_dump_json()})
    [copy] = await backend.queue.read_tasks("w1", ["acme"], 1, 10)
    run, refused = await backend.queue.admit([genuine, copy])
    assert (run.action, refused.action) == (AdmitAction.RUN, AdmitAction.DISCARD)


async def test_discard_acks_and_deletes_only_entries_still_pending(backend: Backend) -> None:
    queue = backend.queue
    await queue.enqueue([make_task(0), make_task(1)])
    first, second = await queue.read_tasks("w1", ["acme"], 2, 10)
    assert await queue.discard([first]) == [True]
    assert await queue.discard([first, second]) == [False, True]
    assert await backend.probe.length("acme", "tasks") == 0
    assert (await queue.stats("acme")).tasks.pending == 0
    assert await backend.probe.hash("acme", "settled") == {}
    assert await queue.discard([]) == []


async def test_an_entry_not_in_the_ledger_is_dead_lettered_as_an_orphan(
    backend: Backend,
) -> None:
    queue, probe = backend.queue, backend.probe
    await queue.ensure_groups(["acme"])
    forged = make_task(session="s9")
    await probe.add_entry("acme", "tasks", {BODY: forged.model_dump_json()})
    await probe.add_entry("acme", "tasks", {BODY: HUGE})
    got = await queue.read_tasks("w1", ["acme"], 10, 10)
    letters = [
        (d, DeadLetter(a.reason, 0, d.problem, in_ledger=False))
        for d, a in zip(got, await queue.admit(got), strict=True)
    ]
    assert await queue.dead_letter(letters) == [True, True]
    entries = await backend.dead_letters.list("acme")
    assert [e.task for e in entries] == [None, None]  # nothing here may be replayed
    assert json.loads(entries[0].raw["raw"])["id"] == forged.id
    assert entries[1].raw["raw"].endswith(f"… [{len(HUGE)} bytes in all]")
    stored = await probe.entries("acme", "dlq")
    assert max(len(fields[BODY]) for _, fields in stored) < 8 * 1024
    # The tenant's ledger, settled marks and sessions know nothing of either.
    assert await probe.hash("acme", "settled") == {}
    assert await probe.session("acme", "s9") == {}
    assert await probe.length("acme", "tasks") == 0


async def test_a_forged_result_for_another_tenant_matches_nothing(backend: Backend) -> None:
    queue = backend.queue
    theirs = make_task(tenant="globex")
    await queue.enqueue([theirs])
    await queue.ensure_groups(["acme"])
    forged = make_result(theirs, output={"summary": "x"})
    await backend.probe.add_entry("acme", "results", {BODY: forged.model_dump_json()})
    [delivery] = await queue.read_results("j1", ["acme"], 10, 10)
    assert delivery.tenant == "acme"
    # The Judge looks the task up in the stream tenant's ledger only.
    assert await backend.uow.lookup([delivery]) == [None]
