"""Contract of the DeadLetterStore: what the queue dead-letters, listed and replayed once."""

from __future__ import annotations

import json

import pytest

from chimera.lib.fields import BODY
from chimera.ports.queue import DeadLetter
from tests.chimera.contracts.backends import Backend
from tests.chimera.contracts.flow import Flow, make_task


@pytest.fixture
def flow(backend: Backend) -> Flow:
    return Flow(backend)


async def test_dead_letters_list_what_the_queue_dead_lettered(flow: Flow, backend: Backend) -> None:
    tasks = [make_task(i) for i in range(2)]
    deliveries = await flow.read(tasks)
    await flow.queue.dead_letter(
        [
            (d, DeadLetter(reason="poison", attempts=3, last_error=f"boom {d.entry_id}"))
            for d in deliveries
        ]
    )
    entries = await backend.dead_letters.list("acme")
    assert [e.task for e in entries] == [d.message for d in deliveries]
    for entry, delivery in zip(entries, deliveries, strict=True):
        assert entry.tenant == "acme"
        assert entry.reason == "poison"
        assert entry.attempts == 3
        assert entry.last_error == f"boom {delivery.entry_id}"
        assert entry.raw["entry_id"] == delivery.entry_id
        assert entry.raw["deliveries"] == 1
    assert len({e.entry_id for e in entries}) == 2
    assert await backend.dead_letters.list("globex") == []
    counters = await flow.session_counters("acme", "s1")
    assert counters["dead_lettered"] == "2"


async def test_dead_letter_replay_requeues_once(flow: Flow, backend: Backend) -> None:
    tasks = [make_task(i) for i in range(2)]
    deliveries = await flow.read(tasks)
    await flow.queue.dead_letter(
        [(d, DeadLetter(reason="max attempts", attempts=3)) for d in deliveries]
    )
    store = backend.dead_letters
    first, second = await store.list("acme")
    assert first.task is not None
    assert second.task is not None
    fresh = first.task.model_copy(update={"attempt": 1})
    probe = backend.probe
    assert await probe.length("acme", "tasks") == 0
    assert await store.replay("acme", first, fresh) is True
    # The task is back in the stream and the ledger, no longer settled, counted once less.
    again = await flow.queue.read_tasks("w2", ["acme"], count=10, block_ms=10)
    assert [d.message for d in again] == [fresh]
    assert (await probe.hash("acme", "ledger"))[fresh.id] == fresh.model_dump_json()
    assert fresh.id not in await probe.hash("acme", "settled")
    assert (await probe.hash("acme", "settled"))[second.task.id] == "dead_lettered"
    assert (await flow.session_counters("acme", "s1"))["dead_lettered"] == "1"
    assert [e.entry_id for e in await store.list("acme")] == [second.entry_id]
    # Replaying the same entry again (another operator) does nothing.
    assert await store.replay("acme", first, fresh) is False
    assert await probe.length("acme", "tasks") == 1
    assert (await flow.session_counters("acme", "s1"))["dead_lettered"] == "1"


async def test_a_dead_letter_committed_after_all_is_not_replayed(
    flow: Flow, backend: Backend
) -> None:
    [delivery] = await flow.read([make_task()])
    await flow.queue.dead_letter([(delivery, DeadLetter(reason="x", attempts=3))])
    [entry] = await backend.dead_letters.list("acme")
    assert entry.task is not None
    await backend.probe.set_field("acme", "settled", entry.task.id, "committed")
    assert await backend.dead_letters.replay("acme", entry, entry.task) is False
    assert [e.entry_id for e in await backend.dead_letters.list("acme")] == [entry.entry_id]


async def test_dead_letter_of_an_undecodable_entry_keeps_its_raw_body(
    flow: Flow, backend: Backend
) -> None:
    queue = flow.queue
    await queue.ensure_groups(["acme"])
    # A poison entry can only come from outside chimera, so it is written by hand.
    await backend.probe.add_entry("acme", "tasks", {BODY: "not json"})
    [delivery] = await queue.read_tasks("w1", ["acme"], count=1, block_ms=10)
    assert delivery.message is None
    assert await queue.dead_letter([(delivery, DeadLetter(reason="undecodable", attempts=1))]) == [
        True
    ]
    [entry] = await backend.dead_letters.list("acme")
    assert entry.task is None
    assert entry.reason == "undecodable"
    assert entry.last_error is None
    assert entry.raw["raw"] == "not json"
    assert await backend.probe.hash("acme", "settled") == {}


async def test_dead_letter_whose_task_no_longer_validates_lists_without_a_task(
    backend: Backend,
) -> None:
    # E.g. written by an older chimera whose Task had other fields.
    body = {"task": {"id": "old", "legacy": True}, "reason": "old", "attempts": "2"}
    await backend.probe.add_entry("acme", "dlq", {BODY: json.dumps(body)})
    [entry] = await backend.dead_letters.list("acme")
    assert entry.task is None
    assert (entry.reason, entry.attempts) == ("old", 2)
    assert entry.raw == body


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({BODY: "{oops"}, "is not JSON"),
        ({BODY: "[1]"}, "is a JSON list"),
        ({BODY: json.dumps({"attempts": "many"})}, "attempts is 'many'"),
        ({"other": "x"}, "is not JSON"),
    ],
)
async def test_an_unreadable_dead_letter_is_listed_with_why(
    backend: Backend, fields: dict[str, str], problem: str
) -> None:
    entry_id = await backend.probe.add_entry("acme", "dlq", fields)
    [entry] = await backend.dead_letters.list("acme")
    assert entry.entry_id == entry_id
    assert entry.task is None
    assert entry.reason.startswith("unreadable dead letter: ")
    assert problem in entry.reason
    assert entry.raw == {"body": fields.get(BODY, "")}
