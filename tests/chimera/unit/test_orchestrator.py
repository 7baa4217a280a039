"""T017: the orchestration loop, Planner → Worker → Judge, with a mocked LLM backend."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from chimera.models.config import MockConfig
from chimera.ports.llm import BackendError
from chimera.services.mock_backend import MockBackend
from chimera.services.orchestrator import Orchestrator
from chimera.services.planner import PlanningError, Submission
from tests.chimera.helpers import ECHO_SKILL, FakeBackend, write_swarm
from tests.chimera.stack import FakeStack


def orchestrator(stack: FakeStack) -> Orchestrator:
    return Orchestrator(
        stack.planner(),
        make_worker=lambda on_dead: stack.worker(on_dead_letter=on_dead, promote_every_s=0.01),
        make_judge=lambda on_outcome: stack.judge(on_outcome=on_outcome),
    )


async def test_every_task_settles_with_the_policy_outcome(tmp_path: Path) -> None:
    stack = FakeStack(write_swarm(tmp_path), {"fake": FakeBackend(delay_s=0.01)})
    confidences = {"a": 0.9, "b": 0.6, "c": 0.1}
    submissions = [
        Submission(tenant, "echo", {"text": name, "confidence": value})
        for tenant in ("acme", "globex")
        for name, value in confidences.items()
    ]
    seen: list[tuple[int, int]] = []
    orch = orchestrator(stack)
    orch.progress = lambda done, total: seen.append((done, total))
    report = await orch.run(submissions, session="run1")
    assert report.totals() == {
        "tasks": 6,
        "committed": 2,
        "denied": 2,
        "review": 2,
        "dead_lettered": 0,
        "cancelled": 0,
    }
    by_text = {o.output["echo"] if o.output else None: o.outcome for o in report.outcomes.values()}
    assert by_text["a"] == "committed"
    assert by_text["b"] == "review"
    assert seen[-1] == (6, 6)
    rows = report.rows()
    assert {(r["tenant"], r["committed"], r["review"], r["denied"]) for r in rows} == {
        ("acme", 1, 1, 1),
        ("globex", 1, 1, 1),
    }
    assert all(r["p95_ms"] >= r["p50_ms"] > 0 for r in rows)
    summary = report.as_json()
    assert summary["session"] == "run1"
    assert summary["totals"]["tasks"] == 6


async def test_dead_lettered_tasks_settle_the_run(tmp_path: Path) -> None:
    skill = {**ECHO_SKILL, "retry": {"max_attempts": 2, "backoff_base_s": 0.01}}
    backend = FakeBackend(fail_times=5, error=BackendError("down"))
    stack = FakeStack(write_swarm(tmp_path, skills=[skill]), {"fake": backend})
    report = await orchestrator(stack).run([Submission("acme", "echo", {"text": "x"})])
    [outcome] = report.outcomes.values()
    assert outcome.outcome == "dead_lettered"
    assert "down" in (outcome.reason or "")
    assert outcome.attempts == 2


async def test_invalid_submission_runs_nothing(tmp_path: Path) -> None:
    stack = FakeStack(write_swarm(tmp_path), {"fake": FakeBackend()})
    with pytest.raises(PlanningError):
        await orchestrator(stack).run([Submission("acme", "echo", {})])
    assert len(stack.tenant().tasks) == 0


async def test_mock_backend_is_deterministic_and_schema_valid(tmp_path: Path) -> None:
    swarm = write_swarm(tmp_path)
    skill = swarm.skill("echo")
    backend = MockBackend({"echo": MockConfig()})
    from chimera.models.llm import LLMRequest, Message

    request = LLMRequest(
        skill="echo",
        messages=[Message.user("p")],
        output_schema=skill.config.output_schema,
        input={"text": "same"},
    )
    first, second = await backend.complete(request), await backend.complete(request)
    assert first == second
    assert skill.output_errors(first.output) == []
    other = await backend.complete(request.model_copy(update={"input": {"text": "other"}}))
    assert other.confidence != first.confidence
    assert first.confidence is not None
    assert 0.3 <= first.confidence < 1.0


async def test_mock_backend_honours_fixed_values_and_failure_rate() -> None:
    backend = MockBackend({"s": MockConfig(output={"x": 1}, confidence=0.42, failure_rate=1.0)})
    from chimera.models.llm import LLMRequest, Message

    request = LLMRequest(skill="s", messages=[Message.user("p")], output_schema={"type": "object"})
    with pytest.raises(BackendError, match="simulated"):
        await backend.complete(request)
    backend.settings["s"] = MockConfig(output={"x": 1}, confidence=0.42)
    answer = await backend.complete(request)
    assert answer.output == {"x": 1}
    assert answer.confidence == 0.42


async def test_worker_retries_are_counted_in_the_summary(tmp_path: Path) -> None:
    backend = FakeBackend(fail_times=2, error=BackendError("flaky"))
    stack = FakeStack(write_swarm(tmp_path), {"fake": backend})
    report = await orchestrator(stack).run([Submission("acme", "echo", {"text": "x"})])
    assert report.totals()["committed"] == 1
    assert report.as_json()["totals"]["retried"] == 2
    [row] = report.rows()
    assert row["retried"] == 2


async def test_a_run_finishes_when_another_process_settles_its_tasks(tmp_path: Path) -> None:
    from tests.chimera.helpers import Running

    stack = FakeStack(write_swarm(tmp_path), {"fake": FakeBackend()})
    # This process's own Worker and Judge serve globex only; "another process" (a Worker
    # and a Judge over the same Redis) takes every acme task.
    orch = Orchestrator(
        stack.planner(),
        make_worker=lambda on_dead: stack.worker(
            "mine", tenants=["globex"], on_dead_letter=on_dead
        ),
        make_judge=lambda on_outcome: stack.judge(
            "my-judge", tenants=["globex"], on_outcome=on_outcome
        ),
        states=stack.ports.task_status,
        poll_s=0.05,
    )
    elsewhere = Running(stack.worker("theirs"), stack.judge("their-judge"))
    async with elsewhere:
        confidences = {"a": 0.9, "b": 0.6, "c": 0.1}
        report = await asyncio.wait_for(
            orch.run(
                [
                    Submission("acme", "echo", {"text": t, "confidence": c})
                    for t, c in confidences.items()
                ]
            ),
            timeout=10,
        )
    by_text = {o.task_id: o for o in report.outcomes.values()}
    assert sorted(o.outcome for o in by_text.values()) == ["committed", "denied", "review"]
    [committed] = [o for o in by_text.values() if o.outcome == "committed"]
    assert committed.output == {"echo": "a"}
    assert committed.confidence == 0.9
