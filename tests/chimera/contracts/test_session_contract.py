"""Contract of the SessionStore, and of the counters the queue and unit of work keep."""

from __future__ import annotations

import pytest

from chimera.lib.records import RecordError
from chimera.models.decision import Verdict
from chimera.models.session import SessionState
from chimera.ports.queue import DeadLetter
from tests.chimera.contracts.backends import Backend
from tests.chimera.contracts.flow import Flow, make_task


@pytest.fixture
def flow(backend: Backend) -> Flow:
    return Flow(backend)


async def test_session_open_is_idempotent_and_keeps_a_later_state(backend: Backend) -> None:
    store = backend.sessions
    assert await store.get("acme", "s1") is None
    await store.open("acme", "s1")
    info = await store.get("acme", "s1")
    assert info is not None
    assert (info.tenant, info.session, info.state) == ("acme", "s1", SessionState.OPEN)
    assert info.submitted == 0
    created = (await backend.probe.session("acme", "s1"))["created_at"]
    await store.set_state("acme", "s1", SessionState.RUNNING)
    await store.open("acme", "s1")
    info = await store.get("acme", "s1")
    assert info is not None
    assert info.state is SessionState.RUNNING
    assert (await backend.probe.session("acme", "s1"))["created_at"] == created


async def test_session_completed_is_never_stored(backend: Backend) -> None:
    store = backend.sessions
    await store.open("acme", "s1")
    with pytest.raises(ValueError, match="derived"):
        await store.set_state("acme", "s1", SessionState.COMPLETED)
    info = await store.get("acme", "s1")
    assert info is not None
    assert info.stored_state is SessionState.OPEN


async def test_session_counters_come_from_the_queue_and_unit_of_work(
    flow: Flow, backend: Backend
) -> None:
    store = backend.sessions
    await store.open("acme", "s1")
    await store.set_state("acme", "s1", SessionState.RUNNING)
    await flow.judge([make_task(0), make_task(1)], Verdict.APPROVE)
    await flow.judge([make_task(2)], Verdict.DENY)
    await flow.read([make_task(3)])  # submitted, not settled yet
    info = await store.get("acme", "s1")
    assert info is not None
    assert (info.submitted, info.committed, info.denied, info.settled) == (4, 2, 1, 3)
    assert info.state is SessionState.RUNNING
    await flow.queue.dead_letter(
        [
            (d, DeadLetter(reason="x", attempts=1))
            for d in await flow.queue.claim_stale("w9", ["acme"], 0, 10)
        ]
    )
    info = await store.get("acme", "s1")
    assert info is not None
    assert (info.dead_lettered, info.settled) == (1, 4)
    assert info.stored_state is SessionState.RUNNING
    assert info.state is SessionState.COMPLETED


async def test_session_without_a_stored_state_reads_as_running(
    flow: Flow, backend: Backend
) -> None:
    # The queue counts tasks into a session nobody opened.
    await flow.read([make_task(0, session="adhoc")])
    info = await backend.sessions.get("acme", "adhoc")
    assert info is not None
    assert (info.stored_state, info.submitted) == (SessionState.RUNNING, 1)


async def test_session_list_is_per_tenant_and_sorted(flow: Flow, backend: Backend) -> None:
    store = backend.sessions
    for session in ("s3", "s1", "s2"):
        await store.open("acme", session)
    await store.open("globex", "g1")
    await flow.read([make_task(0, session="s2"), make_task(1, session="s2")])
    listed = await store.list("acme")
    assert [i.session for i in listed] == ["s1", "s2", "s3"]
    assert {i.tenant for i in listed} == {"acme"}
    assert [i.submitted for i in listed] == [0, 2, 0]
    assert [i.session for i in await store.list("globex")] == ["g1"]
    assert await store.list("initech") == []


async def test_halted_reports_only_halted_pairs(backend: Backend) -> None:
    store = backend.sessions
    for tenant, session in [("acme", "s1"), ("acme", "s2"), ("globex", "s1")]:
        await store.open(tenant, session)
    await store.set_state("acme", "s2", SessionState.HALTED)
    await store.set_state("globex", "s1", SessionState.HALTED)
    pairs = [("acme", "s1"), ("acme", "s2"), ("acme", "s2"), ("globex", "s1"), ("acme", "nope")]
    assert await store.halted(pairs) == {("acme", "s2"), ("globex", "s1")}
    assert await store.halted([]) == set()
    await store.set_state("acme", "s2", SessionState.RUNNING)
    assert await store.halted(pairs) == {("globex", "s1")}
    info = await store.get("acme", "s2")
    assert info is not None
    assert info.state is SessionState.RUNNING


async def test_an_unreadable_session_is_left_out_of_the_list_and_named_by_get(
    backend: Backend,
) -> None:
    store = backend.sessions
    await store.open("acme", "good")
    await store.open("acme", "bad")
    # Only a hand edit (or another program) could leave a counter that is not a number.
    await backend.probe.set_session_field("acme", "bad", "submitted", "many")
    assert [i.session for i in await store.list("acme")] == ["good"]
    with pytest.raises(RecordError, match="session 'bad' of tenant 'acme': counter submitted"):
        await store.get("acme", "bad")
