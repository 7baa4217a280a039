"""The services behind the operator commands, on in-memory fakes of their ports.

One tenant rule (``TenantScope``) for every command, the session halt/resume rule, status
that reports a refused tenant instead of zeros, audit reading through its port, committed
results, and ``jobs:`` expanded into submissions.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

import pytest

from chimera.models.audit import ChainCheck
from chimera.models.result import Result
from chimera.models.session import SessionInfo, SessionState
from chimera.ports.queue import StreamStats, TenantStats
from chimera.services.audit_trail import AuditReader
from chimera.services.errors import RequestError
from chimera.services.planner import Submission, count_jobs, expand_jobs
from chimera.services.results import CommittedResults
from chimera.services.sessions import NoSuchSession, SessionControl
from chimera.services.status import SwarmStatus, TenantStatus
from chimera.services.tenants import TenantScope, UnknownTenant
from chimera.testing import make_result, make_task
from tests.chimera.helpers import write_swarm

SCOPE = TenantScope(["acme", "globex"])


# --- the tenant rule ----------------------------------------------------------------------


def test_select_is_every_tenant_or_the_one_named() -> None:
    assert SCOPE.select(None) == ["acme", "globex"]
    assert SCOPE.select("globex") == ["globex"]


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["initech"], "unknown tenant 'initech' (known: acme, globex)"),
        (["acme", "x", "y"], "unknown tenants 'x', 'y' (known: acme, globex)"),
    ],
)
def test_unknown_tenants_are_one_request_error(names: list[str], message: str) -> None:
    with pytest.raises(UnknownTenant) as caught:
        SCOPE.check(names)
    assert str(caught.value) == message
    assert isinstance(caught.value, RequestError)
    with pytest.raises(UnknownTenant, match="known: acme, globex"):
        SCOPE.select(names[-1])


def test_check_returns_the_names_in_order() -> None:
    assert SCOPE.check(("globex", "acme")) == ["globex", "acme"]
    assert SCOPE.check(()) == []


# --- sessions -----------------------------------------------------------------------------


class FakeSessions:
    """An in-memory SessionStore."""

    def __init__(self, *infos: SessionInfo) -> None:
        self.infos = {(i.tenant, i.session): i for i in infos}

    async def open(self, tenant: str, session: str) -> None:
        self.infos.setdefault((tenant, session), SessionInfo(tenant=tenant, session=session))

    async def set_state(self, tenant: str, session: str, state: SessionState) -> None:
        info = self.infos[(tenant, session)]
        self.infos[(tenant, session)] = info.model_copy(update={"stored_state": state})

    async def get(self, tenant: str, session: str) -> SessionInfo | None:
        return self.infos.get((tenant, session))

    async def list(self, tenant: str) -> list[SessionInfo]:
        return [i for (t, _), i in self.infos.items() if t == tenant]

    async def halted(self, pairs: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        return {p for p in pairs if self.infos[p].stored_state is SessionState.HALTED}


def running(tenant: str, session: str) -> SessionInfo:
    return SessionInfo(
        tenant=tenant, session=session, stored_state=SessionState.RUNNING, submitted=2
    )


async def test_halt_and_resume_move_an_existing_session() -> None:
    store = FakeSessions(running("acme", "s1"), running("globex", "s1"))
    control = SessionControl(store, SCOPE)
    assert await control.halt("acme", "s1") is SessionState.HALTED
    assert await store.halted([("acme", "s1"), ("globex", "s1")]) == {("acme", "s1")}
    assert await control.resume("acme", "s1") is SessionState.RUNNING
    assert await store.halted([("acme", "s1")]) == set()


async def test_halting_what_does_not_exist_changes_nothing() -> None:
    store = FakeSessions(running("acme", "s1"))
    control = SessionControl(store, SCOPE)
    with pytest.raises(NoSuchSession, match="tenant 'globex' has no session 's1'"):
        await control.halt("globex", "s1")
    with pytest.raises(UnknownTenant, match="unknown tenant 'initech'"):
        await control.resume("initech", "s1")
    assert list(store.infos) == [("acme", "s1")]
    assert store.infos[("acme", "s1")].stored_state is SessionState.RUNNING


async def test_list_sessions_of_one_or_every_tenant() -> None:
    control = SessionControl(
        FakeSessions(running("acme", "a"), running("globex", "g"), running("acme", "b")), SCOPE
    )
    assert [(i.tenant, i.session) for i in await control.list()] == [
        ("acme", "a"),
        ("acme", "b"),
        ("globex", "g"),
    ]
    assert [i.session for i in await control.list("globex")] == ["g"]
    with pytest.raises(UnknownTenant):
        await control.list("initech")


# --- status -------------------------------------------------------------------------------


class Refused(Exception):
    """What the fake queue raises for a tenant this user may not read."""


class FakeStats:
    """A QueueStats whose ``denied`` tenants are refused and ``broken`` ones fail."""

    def __init__(self, denied: Collection[str] = (), broken: Collection[str] = ()) -> None:
        self.denied = denied
        self.broken = broken

    async def stats(self, tenant: str) -> TenantStats:
        if tenant in self.denied:
            raise Refused(f"User u has no permissions to access the '{tenant}' key")
        if tenant in self.broken:
            raise ConnectionError("Connection reset by peer")
        stream = StreamStats(length=3, pending=1, consumers=2, lag=0)
        return TenantStats(
            tenant, stream, stream, delayed=0, review=1, dead_lettered=0, committed=5
        )


def status(queue: FakeStats) -> SwarmStatus:
    return SwarmStatus(queue, SCOPE, access_denied=lambda exc: isinstance(exc, Refused))


async def test_a_refused_tenant_is_reported_as_such_not_as_zeros() -> None:
    rows = await status(FakeStats(denied={"globex"})).tenants()
    acme, globex = rows
    assert acme.stats is not None
    assert acme.stats.committed == 5
    assert acme.denied is None
    assert globex == TenantStatus(
        "globex", None, denied="User u has no permissions to access the 'globex' key"
    )


async def test_other_failures_are_not_taken_for_refusals() -> None:
    with pytest.raises(ConnectionError):
        await status(FakeStats(broken={"globex"})).tenants()


async def test_status_of_one_tenant() -> None:
    [row] = await status(FakeStats()).tenants("globex")
    assert row.tenant == "globex"
    with pytest.raises(UnknownTenant):
        await status(FakeStats()).tenants("initech")


# --- audit trail --------------------------------------------------------------------------


class FakeTrail:
    """An AuditTrail that records what it was asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []

    async def read(self, tenant: str, verify: bool) -> ChainCheck:
        self.calls.append((tenant, verify))
        return ChainCheck(records=[], broken_at=None, problem=None)


async def test_the_audit_trail_is_read_through_its_port() -> None:
    trail = FakeTrail()
    reader = AuditReader(trail, SCOPE)
    assert (await reader.read("globex", verify=True)).ok
    with pytest.raises(UnknownTenant):
        await reader.read("initech", verify=False)
    assert trail.calls == [("globex", True)]


# --- committed results --------------------------------------------------------------------


class FakeResults:
    def __init__(self, *results: Result) -> None:
        self.results = results

    async def committed(self, tenant: str) -> list[Result]:
        return [r for r in self.results if r.tenant == tenant]


async def test_committed_results_by_tenant_and_session() -> None:
    a1 = make_result(make_task(tenant="acme", session="s1"))
    a2 = make_result(make_task(tenant="acme", session="s2"))
    g1 = make_result(make_task(tenant="globex", session="s1"))
    results = CommittedResults(FakeResults(a1, a2, g1), SCOPE)
    assert await results.list() == [a1, a2, g1]
    assert await results.list(session="s1") == [a1, g1]
    assert await results.list("acme", "s2") == [a2]
    with pytest.raises(UnknownTenant):
        await results.list("initech")


# --- jobs ---------------------------------------------------------------------------------


def test_jobs_expand_into_submissions_repeat_times(tmp_path: Path) -> None:
    swarm = write_swarm(
        tmp_path,
        jobs=[
            {"tenant": "acme", "skill": "echo", "input": {"text": "a"}, "repeat": 3},
            {"tenant": "globex", "skill": "echo", "input": {"text": "b"}, "session": "s9"},
        ],
    )
    submissions = expand_jobs(swarm)
    where = f"{swarm.path}: jobs[0]"
    assert submissions == [Submission("acme", "echo", {"text": "a"}, where=where)] * 3 + [
        Submission("globex", "echo", {"text": "b"}, "s9", where=f"{swarm.path}: jobs[1]")
    ]
    assert count_jobs(swarm.config.jobs) == len(submissions) == 4
