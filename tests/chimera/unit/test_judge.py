"""T022/T023 and the unit of work: invalid Results are denied with no side effects, every
decision is audited before anything commits, approve commits exactly once."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from chimera.models.audit import AuditEvent, AuditEventType
from chimera.models.decision import Verdict
from chimera.models.result import ErrorKind, Result, ResultStatus
from chimera.models.task import Task
from chimera.ports.judge import CommitOutcome
from chimera.services.audit import AuditFailed, FanoutAuditLogger
from chimera.services.audit_sweep import AuditSweep
from chimera.services.planner import Submission
from chimera.testing import FakePorts, make_event, make_result
from tests.chimera.helpers import ECHO_SKILL, FakeBackend, RecordingSink, write_swarm
from tests.chimera.stack import FakeStack


@pytest.fixture
def log() -> list[str]:
    return []


@pytest.fixture
def sink(log: list[str]) -> RecordingSink:
    return RecordingSink(log=log)


@pytest.fixture
def stack(tmp_path: Path, sink: RecordingSink) -> FakeStack:
    sensitive = {**ECHO_SKILL, "name": "secret", "sensitive": True}
    swarm = write_swarm(tmp_path, skills=[ECHO_SKILL, sensitive])
    ports = FakePorts()
    return FakeStack(swarm, {"fake": FakeBackend()}, sinks=[sink, ports.audit_sink], ports=ports)


def result_for(task: Task, confidence: float = 0.9, **changes: Any) -> Result:
    return make_result(task, **{"confidence": confidence, "output": {"echo": "hi"}, **changes})


async def plant(stack: FakeStack, results: list[Result]) -> None:
    """Put Results on their tenants' result streams as a Worker would."""
    await stack.plant(results)


async def judge_all(
    stack: FakeStack, tenants: list[str] | None = None
) -> list[tuple[Any, CommitOutcome]]:
    judge = stack.judge()
    deliveries = await stack.queue.read_results("j1", tenants or ["acme", "globex"], 100, 10)
    return (await judge.judge(deliveries)).items


async def submit(stack: FakeStack, tenant: str = "acme", skill: str = "echo") -> Task:
    [task] = await stack.planner().submit([Submission(tenant, skill, {"text": "hi"})], session="s1")
    return task


def snapshot(stack: FakeStack, tenant: str) -> dict[str, Any]:
    """The tenant's state, less the audit trail and the result stream we expect to change."""
    data = stack.tenant(tenant)
    state: dict[str, Any] = {
        name: dict(getattr(data, name)) for name in ("ledger", "committed", "settled", "review")
    }
    state["session"] = dict(data.session_hashes.get("s1", {}))
    state["delayed"] = sorted(data.delayed)
    state["tasks"] = len(data.tasks)
    state["dlq"] = len(data.dlq)
    return state


@pytest.mark.parametrize(
    ("confidence", "verdict", "outcome"),
    [
        (0.95, Verdict.APPROVE, CommitOutcome.COMMITTED),
        (0.8, Verdict.APPROVE, CommitOutcome.COMMITTED),
        (0.6, Verdict.REVIEW, CommitOutcome.REVIEW),
        (0.5, Verdict.REVIEW, CommitOutcome.REVIEW),
        (0.2, Verdict.DENY, CommitOutcome.DENIED),
    ],
)
async def test_confidence_bands(
    stack: FakeStack, confidence: float, verdict: Verdict, outcome: CommitOutcome
) -> None:
    task = await submit(stack)
    await plant(stack, [result_for(task, confidence)])
    [(item, got)] = await judge_all(stack)
    assert item.decision.verdict is verdict
    assert got is outcome
    committed = stack.tenant().committed.get(task.id)
    assert (committed is not None) == (outcome is CommitOutcome.COMMITTED)
    parked = task.id in stack.tenant().review
    assert parked == (outcome is CommitOutcome.REVIEW)


async def test_sensitive_skill_always_goes_to_review(stack: FakeStack) -> None:
    task = await submit(stack, skill="secret")
    await plant(stack, [result_for(task, 0.99)])
    [(item, outcome)] = await judge_all(stack)
    assert item.decision.verdict is Verdict.REVIEW
    assert outcome is CommitOutcome.REVIEW


async def test_duplicate_result_commits_once(stack: FakeStack) -> None:
    task = await submit(stack)
    result = result_for(task)
    await plant(stack, [result, result])
    outcomes = [o for _, o in await judge_all(stack)]
    assert outcomes == [CommitOutcome.COMMITTED, CommitOutcome.DUPLICATE]
    assert len(stack.tenant().committed) == 1
    info = await stack.sessions.get("acme", "s1")
    assert info is not None
    assert info.committed == 1
    # A late duplicate, after the first was settled, is still not committed again.
    await plant(stack, [result])
    assert [o for _, o in await judge_all(stack)] == [CommitOutcome.DUPLICATE]


async def test_a_duplicate_is_recorded_as_the_outcome_under_its_own_id(
    stack: FakeStack, sink: RecordingSink
) -> None:
    task = await submit(stack)
    result = result_for(task)
    await plant(stack, [result, result])
    [_, (late, outcome)] = await judge_all(stack)
    assert outcome is CommitOutcome.DUPLICATE
    [committed] = [e for e in sink.events if e.type is AuditEventType.COMMITTED]
    [duplicate] = [e for e in sink.events if e.type is AuditEventType.DUPLICATE]
    assert duplicate.id == f"duplicate:{task.id}:{task.attempt}:{late.delivery.entry_id}"
    assert duplicate.data == {**committed.data, "outcome": "duplicate"}
    assert (duplicate.tenant, duplicate.task_id, duplicate.actor) == ("acme", task.id, "judge")
    assert stack.tenant().audit_pending == {}


async def test_the_decision_record_keeps_the_thresholds_it_applied(
    stack: FakeStack, sink: RecordingSink
) -> None:
    task = await submit(stack)
    await plant(stack, [result_for(task, 0.9)])
    [(item, _)] = await judge_all(stack)
    [decision] = [e for e in sink.events if e.type is AuditEventType.DECISION]
    assert item.decision.thresholds is not None
    assert decision.data["thresholds"] == item.decision.thresholds.model_dump()


# -- T022: invalid Results ------------------------------------------------------------


async def test_forged_result_naming_another_tenants_task_changes_nothing(stack: FakeStack) -> None:
    victim = await submit(stack, tenant="globex")
    await submit(stack, tenant="acme")
    before = {t: snapshot(stack, t) for t in ("acme", "globex")}
    forged = result_for(victim, 0.99)  # claims globex's task ...
    await stack.plant([forged], tenant="acme")  # ... from acme
    [(item, outcome)] = await judge_all(stack, ["acme"])
    assert item.decision.verdict is Verdict.DENY
    assert "came from tenant 'acme'" in item.decision.reason
    assert outcome is CommitOutcome.REJECTED
    after = {t: snapshot(stack, t) for t in ("acme", "globex")}
    assert after == before
    assert (await stack.queue.stats("acme")).results.pending == 0  # acknowledged


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"session": "other"}, "session"),
        ({"attempt": 2}, "attempt 2"),
        ({"task_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}, "no live task"),
    ],
)
async def test_result_not_matching_its_task_is_denied_without_side_effects(
    stack: FakeStack, change: dict[str, Any], reason: str
) -> None:
    task = await submit(stack)
    before = snapshot(stack, "acme")
    await plant(stack, [result_for(task, 0.99, **change)])
    [(item, outcome)] = await judge_all(stack)
    assert item.decision.verdict is Verdict.DENY
    assert reason in item.decision.reason
    assert outcome is CommitOutcome.REJECTED
    assert snapshot(stack, "acme") == before


async def test_output_breaking_schema_is_denied_and_logged(
    stack: FakeStack, sink: RecordingSink
) -> None:
    task = await submit(stack)
    await plant(stack, [result_for(task, 0.99, output={"nope": 1})])
    [(item, outcome)] = await judge_all(stack)
    assert item.decision.verdict is Verdict.DENY
    assert "output does not match schema" in item.decision.reason
    assert outcome is CommitOutcome.DENIED
    assert task.id not in stack.tenant().committed
    decisions = [e for e in sink.events if e.type is AuditEventType.DECISION]
    assert decisions
    assert decisions[-1].data["verdict"] == "deny"


async def test_failed_result_is_denied_with_its_error(stack: FakeStack) -> None:
    task = await submit(stack)
    failed = result_for(
        task,
        0.0,
        status=ResultStatus.FAILED,
        output=None,
        error="bad input",
        error_kind=ErrorKind.INVALID_INPUT,
    )
    await plant(stack, [failed])
    [(item, outcome)] = await judge_all(stack)
    assert "bad input" in item.decision.reason
    assert outcome is CommitOutcome.DENIED


async def test_undecodable_result_entry_is_acked_and_audited(
    stack: FakeStack, sink: RecordingSink
) -> None:
    await stack.queue.ensure_groups(["acme"])
    stack.tenant().results.add({"body": "{not json"}, stack.clock() * 1000)
    [(item, outcome)] = await judge_all(stack)
    assert item.decision is None
    assert outcome is CommitOutcome.REJECTED
    [event] = [e for e in sink.events if e.data.get("entry_id") == item.delivery.entry_id]
    assert str(event.data["reason"]).startswith("undecodable result entry: body is not a valid")
    assert event.data["raw"] == "{not json"


# -- T023: log before commit ----------------------------------------------------------


async def test_decision_is_audited_before_the_commit(stack: FakeStack, log: list[str]) -> None:
    task = await submit(stack)
    await plant(stack, [result_for(task)])
    apply = stack.uow.apply

    async def recording_apply(items):  # type: ignore[no-untyped-def]
        log.append("commit")
        return await apply(items)

    stack.uow.apply = recording_apply  # type: ignore[method-assign]
    log.clear()
    await judge_all(stack)
    assert log == ["audit:decision", "commit", "audit:committed"]


async def test_failing_sink_means_nothing_commits_and_result_stays_pending(
    stack: FakeStack, sink: RecordingSink
) -> None:
    task = await submit(stack)
    await plant(stack, [result_for(task)])
    sink.fail = True
    judge = stack.judge()
    deliveries = await stack.queue.read_results("j1", ["acme"], 10, 10)
    with pytest.raises(AuditFailed, match="'recording' failed"):
        await judge.judge(deliveries)
    assert task.id not in stack.tenant().committed
    assert (await stack.queue.stats("acme")).results.pending == 1
    # Once the sink recovers, the pending Result is judged again and committed once.
    sink.fail = False
    again = await stack.queue.read_own_pending("j1", ["acme"], 10)
    [(_, outcome)] = (await judge.judge(again)).items
    assert outcome is CommitOutcome.COMMITTED
    assert (await stack.queue.stats("acme")).results.pending == 0


async def test_audit_chain_stays_valid_across_judging(stack: FakeStack) -> None:
    for _ in range(3):
        task = await submit(stack)
        await plant(stack, [result_for(task, 0.9)])
    await judge_all(stack)
    check = await stack.audit_sink.read("acme")
    assert check.ok
    assert [r.seq for r in check.records] == list(range(1, len(check.records) + 1))


async def test_deny_with_retry_reschedules_with_feedback(tmp_path: Path) -> None:
    swarm = write_swarm(
        tmp_path,
        judge={"policy": "threshold", "approve_at": 0.8, "review_at": 0.5, "on_deny": "retry"},
    )
    stack = FakeStack(swarm, {"fake": FakeBackend()}, sinks=[RecordingSink()])
    task = await submit(stack)
    await plant(stack, [result_for(task, 0.1)])
    [(item, outcome)] = await judge_all(stack)
    assert outcome is CommitOutcome.RETRIED
    [member] = list(stack.tenant().delayed)
    retried = Task.model_validate_json(member)
    assert retried.id == task.id
    assert retried.attempt == 2
    assert retried.feedback is not None
    assert "confidence 0.100" in retried.feedback
    # The last attempt is denied for good.
    final = retried.model_copy(update={"attempt": 3})
    stack.tenant().ledger[task.id] = final.model_dump_json()
    await plant(stack, [result_for(final, 0.1)])
    [(item, outcome)] = await judge_all(stack)
    assert outcome is CommitOutcome.DENIED
    assert item.decision.retry is False


async def test_fanout_stops_at_first_failing_sink() -> None:
    first, second = RecordingSink("a"), RecordingSink("b")
    first.fail = True
    with pytest.raises(AuditFailed):
        await FanoutAuditLogger([first, second]).record(
            [
                __import__("chimera.models.audit", fromlist=["AuditEvent"]).AuditEvent(
                    type=AuditEventType.SUBMITTED, tenant="acme"
                )
            ]
        )
    assert second.events == []


async def test_judge_gives_up_after_consecutive_failures_when_told(
    stack: FakeStack, sink: RecordingSink
) -> None:
    task = await submit(stack)
    await plant(stack, [result_for(task)])
    sink.fail = True
    judge = stack.judge(max_consecutive_failures=2, retry_audit_after_s=0.01)
    with pytest.raises(AuditFailed):
        await asyncio.wait_for(judge.run(asyncio.Event()), timeout=5)
    assert task.id not in stack.tenant().committed


async def test_a_policy_that_raises_sends_the_result_to_a_human(stack: FakeStack) -> None:
    class Broken:
        name = "threshold"

        async def decide(self, item: Any) -> Any:
            raise ValueError("cannot parse output")

    task = await submit(stack)
    await plant(stack, [result_for(task)])
    judge = stack.judge()
    judge.policies = {"threshold": Broken()}  # type: ignore[dict-item]
    deliveries = await stack.queue.read_results("j1", ["acme"], 10, 10)
    [(item, outcome)] = (await judge.judge(deliveries)).items
    assert item.decision.verdict is Verdict.REVIEW
    assert "failed (ValueError: cannot parse output)" in item.decision.reason
    assert outcome is CommitOutcome.REVIEW


async def test_commit_compares_against_the_ledger_row_as_stored(stack: FakeStack) -> None:
    import json

    task = await submit(stack)
    # Another writer (an older or newer chimera) spelled the same Task differently.
    row = json.loads(task.model_dump_json())
    respelled = json.dumps(dict(reversed(list(row.items()))))
    stack.tenant().ledger[task.id] = respelled
    await plant(stack, [result_for(task)])
    [(_, outcome)] = await judge_all(stack)
    assert outcome is CommitOutcome.COMMITTED


# -- the outcome's record is kept with the commit -----------------------------------------


async def test_the_outcome_event_is_kept_with_the_commit_until_the_sinks_have_it(
    stack: FakeStack, sink: RecordingSink
) -> None:
    task = await submit(stack)
    await plant(stack, [result_for(task)])
    record = stack.audit.record
    calls = 0

    async def dies_after_the_commit(events):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 2:  # the outcome: the Judge "dies" between the commit and its record
            raise AuditFailed("audit sink 'recording' failed: process killed")
        await record(events)

    stack.audit.record = dies_after_the_commit  # type: ignore[method-assign]
    [(_, outcome)] = await judge_all(stack)
    assert outcome is CommitOutcome.COMMITTED
    assert task.id in stack.tenant().committed
    [kept] = [AuditEvent.model_validate_json(b) for b in stack.tenant().audit_pending.values()]
    assert (kept.type, kept.task_id) == (AuditEventType.COMMITTED, task.id)
    assert AuditEventType.COMMITTED not in {e.type for e in sink.events}
    # The sweep of any Judge later hands it to the sinks, once, and forgets it.
    stack.audit.record = record  # type: ignore[method-assign]
    sweep = AuditSweep(stack.pending_audit, stack.audit, ["acme"], after_s=0)
    assert await sweep.sweep() == 1
    assert await sweep.sweep() == 0
    assert stack.tenant().audit_pending == {}
    stored = [e for e in stack.audit_sink.events("acme") if e.task_id == task.id]
    assert [e.type for e in stored] == [
        AuditEventType.SUBMITTED,
        AuditEventType.DECISION,
        AuditEventType.COMMITTED,
    ]


async def test_judging_the_same_result_again_stores_each_event_once(stack: FakeStack) -> None:
    task = await submit(stack)
    await plant(stack, [result_for(task)])
    judge = stack.judge()
    deliveries = await stack.queue.read_results("j1", ["acme"], 10, 10)
    # A lost reply: the decision was written, then the batch is judged again from scratch.
    await judge.judge(deliveries)
    await judge.judge(deliveries)
    stored = [e for e in stack.audit_sink.events("acme") if e.task_id == task.id]
    kinds = [e.type for e in stored]
    assert kinds.count(AuditEventType.DECISION) == 1
    assert kinds.count(AuditEventType.COMMITTED) == 1
    assert kinds.count(AuditEventType.DUPLICATE) == 1  # the second apply saw a settled task
    assert stack.tenant().audit_pending == {}


async def test_a_sweep_leaves_young_pending_events_to_their_writer(stack: FakeStack) -> None:
    task = await submit(stack)
    stack.tenant().audit_pending["e1"] = make_event(task_id=task.id, id="e1").model_dump_json()
    sweep = AuditSweep(stack.pending_audit, stack.audit, ["acme"], after_s=60)
    assert await sweep.sweep() == 0
    assert list(stack.tenant().audit_pending) == ["e1"]
