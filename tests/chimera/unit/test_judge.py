"""T022/T023 and the unit of work: invalid Results are denied with no side effects, every
decision is audited before anything commits, approve commits exactly once."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from chimera.lib.keys import Keyspace
from chimera.lib.redis_audit import RedisAuditSink, read_chain
from chimera.models.audit import AuditEventType
from chimera.models.decision import Verdict
from chimera.models.result import ErrorKind, Result, ResultStatus
from chimera.models.task import Task
from chimera.ports.judge import CommitOutcome
from chimera.services.audit import AuditFailed, FanoutAuditLogger
from chimera.services.planner import Submission
from chimera.testing import make_result
from tests.chimera.helpers import ECHO_SKILL, FakeBackend, RecordingSink, write_swarm
from tests.chimera.stack import Stack


@pytest.fixture
def log() -> list[str]:
    return []


@pytest.fixture
def sink(log: list[str]) -> RecordingSink:
    return RecordingSink(log=log)


@pytest.fixture
def stack(
    tmp_path: Path, fake_redis: aioredis.Redis, keyspace: Keyspace, sink: RecordingSink
) -> Stack:
    sensitive = {**ECHO_SKILL, "name": "secret", "sensitive": True}
    swarm = write_swarm(tmp_path, skills=[ECHO_SKILL, sensitive])
    stack = Stack(
        swarm,
        fake_redis,
        keyspace,
        {"fake": FakeBackend()},
        sinks=[sink, RedisAuditSink(fake_redis, keyspace)],
    )
    return stack


def result_for(task: Task, confidence: float = 0.9, **changes: Any) -> Result:
    return make_result(task, **{"confidence": confidence, "output": {"echo": "hi"}, **changes})


async def plant(stack: Stack, results: list[Result]) -> None:
    """Put Results on their tenants' result streams as a Worker would."""
    for result in results:
        await stack.queue.ensure_groups([result.tenant])
        await stack.client.xadd(
            stack.keys(result.tenant).results, {"body": result.model_dump_json()}
        )


async def judge_all(
    stack: Stack, tenants: list[str] | None = None
) -> list[tuple[Any, CommitOutcome]]:
    judge = stack.judge()
    deliveries = await stack.queue.read_results("j1", tenants or ["acme", "globex"], 100, 10)
    return (await judge.judge(deliveries)).items


async def submit(stack: Stack, tenant: str = "acme", skill: str = "echo") -> Task:
    [task] = await stack.planner().submit([Submission(tenant, skill, {"text": "hi"})], session="s1")
    return task


async def snapshot(client: aioredis.Redis, keyspace: Keyspace, tenant: str) -> dict[str, Any]:
    """The tenant's state, less the audit trail and the result stream we expect to change."""
    keys = keyspace.tenant(tenant)
    state: dict[str, Any] = {}
    for key in [keys.ledger, keys.committed, keys.settled, keys.review, keys.session("s1")]:
        state[key] = await client.hgetall(key)
    state[keys.delayed] = await client.zrange(keys.delayed, 0, -1)
    state[keys.tasks] = await client.xlen(keys.tasks)
    state[keys.dlq] = await client.xlen(keys.dlq)
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
    stack: Stack, confidence: float, verdict: Verdict, outcome: CommitOutcome
) -> None:
    task = await submit(stack)
    await plant(stack, [result_for(task, confidence)])
    [(item, got)] = await judge_all(stack)
    assert item.decision.verdict is verdict
    assert got is outcome
    committed = await stack.client.hget(stack.keys().committed, task.id)
    assert (committed is not None) == (outcome is CommitOutcome.COMMITTED)
    parked = await stack.client.hexists(stack.keys().review, task.id)
    assert parked == (outcome is CommitOutcome.REVIEW)


async def test_sensitive_skill_always_goes_to_review(stack: Stack) -> None:
    task = await submit(stack, skill="secret")
    await plant(stack, [result_for(task, 0.99)])
    [(item, outcome)] = await judge_all(stack)
    assert item.decision.verdict is Verdict.REVIEW
    assert outcome is CommitOutcome.REVIEW


async def test_duplicate_result_commits_once(stack: Stack) -> None:
    task = await submit(stack)
    result = result_for(task)
    await plant(stack, [result, result])
    outcomes = [o for _, o in await judge_all(stack)]
    assert outcomes == [CommitOutcome.COMMITTED, CommitOutcome.DUPLICATE]
    assert await stack.client.hlen(stack.keys().committed) == 1
    info = await stack.sessions.get("acme", "s1")
    assert info is not None
    assert info.committed == 1
    # A late duplicate, after the first was settled, is still not committed again.
    await plant(stack, [result])
    assert [o for _, o in await judge_all(stack)] == [CommitOutcome.DUPLICATE]


# -- T022: invalid Results ------------------------------------------------------------


async def test_forged_result_naming_another_tenants_task_changes_nothing(stack: Stack) -> None:
    victim = await submit(stack, tenant="globex")
    await submit(stack, tenant="acme")
    before = {t: await snapshot(stack.client, stack.keyspace, t) for t in ("acme", "globex")}
    forged = result_for(victim, 0.99)  # claims globex's task ...
    await stack.queue.ensure_groups(["acme"])
    await stack.client.xadd(
        stack.keys("acme").results, {"body": forged.model_dump_json()}
    )  # ... from acme
    [(item, outcome)] = await judge_all(stack, ["acme"])
    assert item.decision.verdict is Verdict.DENY
    assert "came from tenant 'acme'" in item.decision.reason
    assert outcome is CommitOutcome.REJECTED
    after = {
        t: await snapshot(stack.client, stack.keys and stack.keyspace, t)
        for t in ("acme", "globex")
    }
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
    stack: Stack, change: dict[str, Any], reason: str
) -> None:
    task = await submit(stack)
    before = await snapshot(stack.client, stack.keyspace, "acme")
    await plant(stack, [result_for(task, 0.99, **change)])
    [(item, outcome)] = await judge_all(stack)
    assert item.decision.verdict is Verdict.DENY
    assert reason in item.decision.reason
    assert outcome is CommitOutcome.REJECTED
    assert await snapshot(stack.client, stack.keyspace, "acme") == before


async def test_output_breaking_schema_is_denied_and_logged(
    stack: Stack, sink: RecordingSink
) -> None:
    task = await submit(stack)
    await plant(stack, [result_for(task, 0.99, output={"nope": 1})])
    [(item, outcome)] = await judge_all(stack)
    assert item.decision.verdict is Verdict.DENY
    assert "output does not match schema" in item.decision.reason
    assert outcome is CommitOutcome.DENIED
    assert not await stack.client.hexists(stack.keys().committed, task.id)
    decisions = [e for e in sink.events if e.type is AuditEventType.DECISION]
    assert decisions
    assert decisions[-1].data["verdict"] == "deny"


async def test_failed_result_is_denied_with_its_error(stack: Stack) -> None:
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
    stack: Stack, sink: RecordingSink
) -> None:
    await stack.queue.ensure_groups(["acme"])
    await stack.client.xadd(stack.keys().results, {"body": "{not json"})
    [(item, outcome)] = await judge_all(stack)
    assert item.decision is None
    assert outcome is CommitOutcome.REJECTED
    assert any(e.data.get("reason") == "undecodable result entry" for e in sink.events)


# -- T023: log before commit ----------------------------------------------------------


async def test_decision_is_audited_before_the_commit(stack: Stack, log: list[str]) -> None:
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
    stack: Stack, sink: RecordingSink
) -> None:
    task = await submit(stack)
    await plant(stack, [result_for(task)])
    sink.fail = True
    judge = stack.judge()
    deliveries = await stack.queue.read_results("j1", ["acme"], 10, 10)
    with pytest.raises(AuditFailed, match="'recording' failed"):
        await judge.judge(deliveries)
    assert not await stack.client.hexists(stack.keys().committed, task.id)
    assert (await stack.queue.stats("acme")).results.pending == 1
    # Once the sink recovers, the pending Result is judged again and committed once.
    sink.fail = False
    again = await stack.queue.read_own_pending("j1", ["acme"], 10)
    [(_, outcome)] = (await judge.judge(again)).items
    assert outcome is CommitOutcome.COMMITTED
    assert (await stack.queue.stats("acme")).results.pending == 0


async def test_audit_chain_stays_valid_across_judging(stack: Stack) -> None:
    for _ in range(3):
        task = await submit(stack)
        await plant(stack, [result_for(task, 0.9)])
    await judge_all(stack)
    check = await read_chain(stack.client, stack.keyspace, "acme")
    assert check.ok
    assert [r.seq for r in check.records] == list(range(1, len(check.records) + 1))


async def test_deny_with_retry_reschedules_with_feedback(
    tmp_path: Path, fake_redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    swarm = write_swarm(
        tmp_path,
        judge={"policy": "threshold", "approve_at": 0.8, "review_at": 0.5, "on_deny": "retry"},
    )
    stack = Stack(swarm, fake_redis, keyspace, {"fake": FakeBackend()}, sinks=[RecordingSink()])
    task = await submit(stack)
    await plant(stack, [result_for(task, 0.1)])
    [(item, outcome)] = await judge_all(stack)
    assert outcome is CommitOutcome.RETRIED
    [member] = await fake_redis.zrange(stack.keys().delayed, 0, -1)
    retried = Task.model_validate_json(member)
    assert retried.id == task.id
    assert retried.attempt == 2
    assert retried.feedback is not None
    assert "confidence 0.100" in retried.feedback
    # The last attempt is denied for good.
    final = retried.model_copy(update={"attempt": 3})
    await fake_redis.hset(stack.keys().ledger, task.id, final.model_dump_json())
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
    stack: Stack, sink: RecordingSink
) -> None:
    task = await submit(stack)
    await plant(stack, [result_for(task)])
    sink.fail = True
    judge = stack.judge(max_consecutive_failures=2, retry_audit_after_s=0.01)
    with pytest.raises(AuditFailed):
        await asyncio.wait_for(judge.run(asyncio.Event()), timeout=5)
    assert not await stack.client.hexists(stack.keys().committed, task.id)


async def test_a_policy_that_raises_sends_the_result_to_a_human(stack: Stack) -> None:
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


async def test_commit_compares_against_the_ledger_row_as_stored(stack: Stack) -> None:
    import json

    task = await submit(stack)
    # Another writer (an older or newer chimera) spelled the same Task differently.
    row = json.loads(task.model_dump_json())
    respelled = json.dumps(dict(reversed(list(row.items()))))
    await stack.client.hset(stack.keys().ledger, task.id, respelled)
    await plant(stack, [result_for(task)])
    [(_, outcome)] = await judge_all(stack)
    assert outcome is CommitOutcome.COMMITTED
