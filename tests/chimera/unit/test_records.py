"""Each stored record reads back as written, and garbage becomes a clear error, not a crash."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from chimera.lib.fields import Counter, Settled
from chimera.lib.records import (
    RecordError,
    audit_record,
    committed_result,
    dead_letter,
    review_item,
    session,
    settled,
)
from chimera.lib.records.task_status import task_status
from chimera.models.audit import GENESIS_HASH
from chimera.models.decision import Decision, Verdict
from chimera.models.session import SessionState
from chimera.ports.queue import DeadLetter, Delivery
from chimera.ports.stores import ReviewItem, TaskState
from chimera.testing import make_event, make_result, make_task


def parked() -> ReviewItem:
    task = make_task()
    result = make_result(task, confidence=0.6)
    decision = Decision.on(result, Verdict.REVIEW, "in the band", "threshold")
    return ReviewItem(task=task, result=result, decision=decision)


# --- review item -----------------------------------------------------------------------


def test_review_item_round_trips() -> None:
    item = parked()
    assert review_item.decode(review_item.encode(item)) == item


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{not json", "review item is not JSON"),
        ("[1, 2]", "review item is a JSON list, not an object"),
        (json.dumps({"task": {}, "result": {}}), "review item has no 'decision'"),
        (
            json.dumps({"task": {"tenant": "acme"}, "result": {}, "decision": {}}),
            "review item does not validate: Task",
        ),
    ],
)
def test_review_item_garbage_is_a_record_error(text: str, problem: str) -> None:
    with pytest.raises(RecordError, match=problem):
        review_item.decode(text)


def test_review_parts_read_what_they_can() -> None:
    item = parked()
    stored = json.loads(review_item.encode(item))
    stored["result"] = {"not": "a result"}
    parts = review_item.decode_parts(json.dumps(stored))
    assert (parts.task, parts.result, parts.decision) == (item.task, None, item.decision)
    assert review_item.decode_parts("nope") == review_item.ReviewParts(None, None, None)


def test_readable_review_items_skip_garbage_and_sort_by_task() -> None:
    first, second = parked(), parked()
    stored = {
        second.task.id: review_item.encode(second),
        "zzz": "garbage",
        first.task.id: review_item.encode(first),
    }
    assert review_item.readable("acme", stored) == [first, second]


# --- dead letter -----------------------------------------------------------------------


def test_dead_letter_round_trips_with_where_it_came_from() -> None:
    task = make_task()
    delivery = Delivery("acme", "5-0", task, deliveries=4)
    text = dead_letter.encode(delivery, DeadLetter("poison", 3, "boom"))
    entry = dead_letter.decode("9-0", "acme", text)
    assert (entry.entry_id, entry.tenant, entry.task) == ("9-0", "acme", task)
    assert (entry.reason, entry.attempts, entry.last_error) == ("poison", 3, "boom")
    assert (entry.raw["entry_id"], entry.raw["deliveries"], entry.raw["raw"]) == ("5-0", 4, None)


def test_dead_letter_of_an_undecodable_entry_keeps_the_raw_body() -> None:
    text = dead_letter.encode(Delivery("acme", "5-0", None, raw="{bad"), DeadLetter("x", 1))
    entry = dead_letter.decode("9-0", "acme", text)
    assert (entry.task, entry.raw["raw"], entry.last_error) == (None, "{bad", None)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "dead letter 9-0 is not JSON"),
        ('"text"', "dead letter 9-0 is a JSON str"),
        (json.dumps({"attempts": [1]}), "attempts is \\[1\\], not a number"),
    ],
)
def test_dead_letter_garbage_is_a_record_error_or_a_listed_reason(text: str, problem: str) -> None:
    with pytest.raises(RecordError, match=problem):
        dead_letter.decode("9-0", "acme", text)
    entry = dead_letter.read("9-0", "acme", text)
    assert entry.task is None
    assert entry.reason.startswith("unreadable dead letter: dead letter 9-0")
    assert entry.raw == {"body": text}


def test_dead_letter_fields_of_other_types_are_read_leniently() -> None:
    entry = dead_letter.decode("1-0", "acme", json.dumps({"attempts": "2", "last_error": 7}))
    assert (entry.attempts, entry.last_error, entry.reason, entry.task) == (2, "7", "", None)


# --- committed result, settled row ------------------------------------------------------


def test_committed_result_round_trips_and_garbage_is_skipped() -> None:
    result = make_result()
    assert committed_result.decode(committed_result.encode(result)) == result
    with pytest.raises(RecordError, match="committed result does not validate"):
        committed_result.decode('{"task_id": 1}')
    stored = {"b": committed_result.encode(result), "a": "oops"}
    assert committed_result.readable("acme", stored) == [result]


@pytest.mark.parametrize("state", list(Settled))
def test_settled_row_round_trips(state: Settled) -> None:
    assert settled.decode(settled.encode(state)) is state


def test_settled_garbage_names_the_known_words() -> None:
    with pytest.raises(RecordError, match="'kaput' is none of committed, denied, dead_lettered"):
        settled.decode("kaput")


# --- session ---------------------------------------------------------------------------


def test_session_hash_round_trips_with_counters() -> None:
    created = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    stored = session.encode_new(SessionState.OPEN, created)
    assert stored["created_at"] == "2024-05-01T12:00:00Z"
    stored.update({Counter.SUBMITTED: "3", Counter.COMMITTED: "2", Counter.REVIEW: "-1"})
    info = session.decode("acme", "s1", stored)
    assert (info.stored_state, info.submitted, info.committed, info.review) == (
        SessionState.OPEN,
        3,
        2,
        0,
    )


def test_session_without_state_reads_as_running() -> None:
    info = session.decode("acme", "s1", {Counter.SUBMITTED: "1"})
    assert info.stored_state is SessionState.RUNNING


@pytest.mark.parametrize(
    ("stored", "problem"),
    [
        ({"state": "sleeping"}, "session 's1' of tenant 'acme' has unknown state 'sleeping'"),
        ({"committed": "x"}, "session 's1' of tenant 'acme': counter committed is 'x'"),
    ],
)
def test_session_garbage_is_a_record_error(stored: dict[str, str], problem: str) -> None:
    with pytest.raises(RecordError, match=problem):
        session.decode("acme", "s1", stored)


def test_readable_sessions_skip_missing_and_unreadable_hashes() -> None:
    good = session.encode_new(SessionState.RUNNING, datetime.now(UTC))
    listed = session.readable("acme", [("a", good), ("b", {}), ("c", {"state": "?"})])
    assert [i.session for i in listed] == ["a"]


# --- audit record ----------------------------------------------------------------------


def test_audit_links_chain_and_check() -> None:
    events = [(e.id, e.model_dump_json()) for e in (make_event() for _ in range(3))]
    links = audit_record.chain(0, GENESIS_HASH, events)
    assert [link.seq for link in links] == [1, 2, 3]
    assert [link.prev for link in links[1:]] == [link.hash for link in links[:-1]]
    more = audit_record.chain(3, links[-1].hash, events[:1])
    entries = [(f"{i}-0", audit_record.encode(link)) for i, link in enumerate(links + more)]
    check = audit_record.check(entries)
    assert check.ok
    assert [r.seq for r in check.records] == [1, 2, 3, 4]


def test_a_re_hashed_record_is_blamed_itself_and_a_cut_tail_is_found() -> None:
    from chimera.models.audit import AuditRecord

    events = [make_event(data={"n": n}) for n in range(5)]
    links = audit_record.chain(0, GENESIS_HASH, [(e.id, e.model_dump_json()) for e in events])
    witnesses = {link.event_id: link.witness for link in links}
    head = (links[-1].seq, links[-1].hash)
    # Record 3 altered and re-hashed: its own hash matches its content again.
    forged_event = events[2].model_copy(update={"data": {"n": 99}}).model_dump_json()
    forged_hash = AuditRecord.digest(links[2].prev, 3, forged_event)
    forged = audit_record.ChainLink(3, links[2].prev, forged_hash, events[2].id, forged_event)
    entries = [(f"{i}-0", audit_record.encode(link)) for i, link in enumerate(links)]
    entries[2] = ("2-0", audit_record.encode(forged))
    blamed = audit_record.check(entries, head=head, witnesses=witnesses)
    assert blamed.broken_at == 3
    assert "re-hashed" in (blamed.problem or "")
    # Without the witness the break shows only at the next record.
    assert audit_record.check(entries).broken_at == 4
    # The last two records deleted: the head still names seq 5.
    intact = [(f"{i}-0", audit_record.encode(link)) for i, link in enumerate(links)]
    cut = audit_record.check(intact[:3], head=head, witnesses=witnesses)
    assert cut.broken_at == 4
    assert "missing from the end" in (cut.problem or "")
    assert audit_record.check(intact, head=head, witnesses=witnesses).ok


# --- task status -----------------------------------------------------------------------


def test_task_status_prefers_committed_then_review_then_settled_then_ledger() -> None:
    item = parked()
    row = item.task.model_dump_json()
    result = committed_result.encode(item.result)
    review = review_item.encode(item)
    assert task_status("acme", "t", result, review, "committed", row).state is TaskState.COMMITTED
    assert task_status("acme", "t", None, review, None, row).state is TaskState.REVIEW
    assert task_status("acme", "t", None, None, "denied", row).state is TaskState.DENIED
    assert task_status("acme", "t", None, None, None, row).task == item.task
    assert task_status("acme", "t", None, None, None, None).state is TaskState.UNKNOWN
    with pytest.raises(RecordError):
        task_status("acme", "t", None, None, "kaput", None)
