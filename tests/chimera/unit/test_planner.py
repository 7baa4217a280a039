"""T015: the Planner validates submissions and enqueues them in batches, all or nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from chimera.models.session import SessionState
from chimera.services.planner import PlanningError, Submission
from tests.chimera.helpers import ECHO_SKILL, FakeBackend, write_swarm
from tests.chimera.stack import FakeStack


@pytest.fixture
def stack(tmp_path: Path) -> FakeStack:
    return FakeStack(write_swarm(tmp_path), {"fake": FakeBackend()})


async def test_submit_enqueues_tenant_scoped_tasks(stack: FakeStack) -> None:
    tasks = await stack.planner().submit(
        [Submission("acme", "echo", {"text": "a"}), Submission("globex", "echo", {"text": "b"})],
        session="s1",
    )
    assert [t.tenant for t in tasks] == ["acme", "globex"]
    assert all(t.session == "s1" and t.max_attempts == 3 for t in tasks)
    assert len(stack.tenant("acme").tasks) == 1
    assert len(stack.tenant("globex").tasks) == 1
    info = await stack.sessions.get("acme", "s1")
    assert info is not None
    assert info.submitted == 1
    assert info.stored_state is SessionState.RUNNING


@pytest.mark.parametrize(
    ("submission", "message"),
    [
        (Submission("nobody", "echo", {"text": "a"}), "unknown tenant 'nobody'"),
        (Submission("acme", "nope", {"text": "a"}), "unknown skill 'nope'"),
        (Submission("acme", "echo", {"txt": "a"}), "'text' is a required property"),
        (Submission("acme", "echo", ["not", "an", "object"]), "must be a JSON object"),
        (Submission("acme", "echo", {"text": "a"}, session="bad:id"), "string should match"),
    ],
)
async def test_invalid_submission_enqueues_nothing(
    stack: FakeStack, submission: Submission, message: str
) -> None:
    good = Submission("acme", "echo", {"text": "fine"})
    with pytest.raises(PlanningError) as caught:
        await stack.planner().submit([good, submission])
    assert "item 2" in str(caught.value)
    assert message in str(caught.value).lower() or message in str(caught.value)
    assert len(stack.tenant("acme").tasks) == 0


async def test_tenant_may_only_run_its_skills(tmp_path: Path) -> None:
    other = {**ECHO_SKILL, "name": "other"}
    swarm = write_swarm(
        tmp_path,
        skills=[other, {**other, "name": "echo"}],
        tenants={"acme": {"skills": ["echo"]}, "globex": {"skills": ["other"]}},
    )
    stack = FakeStack(swarm, {})
    with pytest.raises(PlanningError, match="may not run skill 'other'"):
        await stack.planner().submit([Submission("acme", "other", {"text": "a"})])


async def test_submit_batches_enqueue_calls(stack: FakeStack) -> None:
    calls: list[int] = []
    original = stack.queue.enqueue

    async def counting(tasks, traceparents=None):  # type: ignore[no-untyped-def]
        calls.append(len(tasks))
        return await original(tasks, traceparents)

    stack.queue.enqueue = counting  # type: ignore[method-assign]
    planner = stack.planner()
    planner.batch_size = 40
    await planner.submit([Submission("acme", "echo", {"text": str(i)}) for i in range(100)])
    assert calls == [40, 40, 20]
    assert len(stack.tenant("acme").tasks) == 100


async def test_submitted_events_are_audited_before_enqueue(stack: FakeStack) -> None:
    await stack.planner().submit([Submission("acme", "echo", {"text": "a"})], session="s9")
    entries = list(stack.tenant("acme").audit)
    assert len(entries) == 1
    assert '"type":"submitted"' in entries[0][1]["event"]
