"""A task's story (``TaskStories``) over the fake ports, after a real Worker and Judge ran it.

The integration tests (``integration/test_cli_task_show.py``) cover the common outcomes on
the real Redis; these cover what is awkward there: an output that breaks the schema, a
dead letter replayed (a second round of attempts), a swarm without an audit trail, records
expired with only the trail left, and what the audit keeps and cuts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chimera.models.audit import AuditEventType
from chimera.models.excerpts import MAX_STORY_CHARS, cut, is_cut, json_text
from chimera.models.result import ErrorKind
from chimera.ports.llm import BackendError
from chimera.ports.stores import TaskState, TaskStatus
from chimera.services.dead_letters import DeadLetterService
from chimera.services.planner import Submission
from chimera.services.story.service import NO_TRAIL, TaskStories
from chimera.services.tenants import TenantScope
from tests.chimera.helpers import ECHO_SKILL, FakeBackend, Running, eventually, write_swarm
from tests.chimera.stack import FakeStack


def stories(stack: FakeStack, with_trail: bool = True) -> TaskStories:
    ports = stack.ports
    return TaskStories(
        ports.task_status,
        ports.audit_sink if with_trail else None,
        ports.reviews,
        ports.dead_letters,
        TenantScope(stack.swarm.tenants),
        price_of=lambda skill: lambda tokens_in, tokens_out: tokens_in * 1.0 + tokens_out * 2.0,
        currency="EUR",
    )


async def run(stack: FakeStack, text: str = "hi", settled: int = 1) -> str:
    [task] = await stack.planner().submit([Submission("acme", "echo", {"text": text})])
    async with Running(stack.worker(promote_every_s=0.01), stack.judge()):
        await eventually(lambda: _settled(stack, settled), within=10)
    return task.id


async def _settled(stack: FakeStack, n: int) -> bool:
    return len(stack.tenant("acme").settled) >= n


async def story_json(stack: FakeStack, task_id: str, with_trail: bool = True) -> dict[str, Any]:
    story = await stories(stack, with_trail).show(task_id)
    assert story is not None
    return dict(json.loads(json.dumps(story.as_json())))


async def test_an_output_breaking_the_schema_keeps_that_output_as_the_answer(
    tmp_path: Path,
) -> None:
    strict = {
        **ECHO_SKILL,
        "output_schema": {"type": "object", "required": ["reply"]},
        "retry": {"max_attempts": 2, "backoff_base_s": 0.01, "backoff_max_s": 0.02},
    }
    stack = FakeStack(write_swarm(tmp_path, skills=[strict]), {"fake": FakeBackend()})
    story = await story_json(stack, await run(stack))
    assert story["state"] == "dead_lettered"
    assert [a["ended"] for a in story["attempts"]] == ["retried", "dead_lettered"]
    for attempt in story["attempts"]:
        assert attempt["status"] == "failed"
        assert json.loads(attempt["answer"]) == {"echo": "hi"}
        assert "output does not match schema" in attempt["error"]
        assert attempt["prompt"] == "Echo hi"
    assert story["dead_letter"]["in_queue"] is True


async def test_a_replayed_dead_letter_starts_a_second_round_of_attempts(tmp_path: Path) -> None:
    skill = {**ECHO_SKILL, "retry": {"max_attempts": 2, "backoff_base_s": 0.01}}
    backend = FakeBackend(fail_times=2, error=BackendError("busy", ErrorKind.BACKEND))
    stack = FakeStack(write_swarm(tmp_path, skills=[skill]), {"fake": backend})
    task_id = await run(stack)
    assert (await story_json(stack, task_id))["state"] == "dead_lettered"
    replay = DeadLetterService(stack.ports.dead_letters, stack.audit, stack.swarm.tenants)
    assert await replay.replay([task_id], actor="olga")
    async with Running(stack.worker(promote_every_s=0.01), stack.judge()):
        await eventually(lambda: _committed(stack, task_id), within=10)
    story = await story_json(stack, task_id)
    assert story["state"] == "committed"
    rounds = [(a["replay"], a["attempt"], a["ended"]) for a in story["attempts"]]
    assert rounds == [(0, 1, "retried"), (0, 2, "dead_lettered"), (1, 1, "committed")]
    assert story["dead_letter"] is None  # replayed: it left the queue
    assert story["commit"]["attempt"] == 1
    committed = story["attempts"][-1]
    tokens = committed["tokens"]
    assert committed["cost"] == tokens["input"] * 1.0 + tokens["output"] * 2.0
    assert story["currency"] == "EUR"
    assert "replayed" in [e["type"] for e in story["events"]]


async def _committed(stack: FakeStack, task_id: str) -> bool:
    return task_id in stack.tenant("acme").committed


async def test_without_an_audit_trail_the_stored_records_are_told_and_it_says_so(
    tmp_path: Path,
) -> None:
    stack = FakeStack(write_swarm(tmp_path), {"fake": FakeBackend()})
    task_id = await run(stack)
    story = await story_json(stack, task_id, with_trail=False)
    assert story["state"] == "committed"
    [attempt] = story["attempts"]
    assert (attempt["prompt"], attempt["output"]) == ("Echo hi", {"echo": "hi"})
    assert attempt["judge"] is None
    assert story["notes"] == [NO_TRAIL]
    assert story["events"] == []


class _Forgetful:
    """A task status store whose records expired: it knows no task."""

    async def status(self, tenant: str, task_id: str) -> TaskStatus:
        return TaskStatus(task_id, tenant, TaskState.UNKNOWN)

    async def settled(self, tenant: str, task_ids: Any) -> dict[str, TaskStatus]:
        return {}


async def test_with_the_records_expired_the_trail_still_tells_the_story(tmp_path: Path) -> None:
    stack = FakeStack(write_swarm(tmp_path), {"fake": FakeBackend()})
    task_id = await run(stack)
    forgetful = TaskStories(
        _Forgetful(),
        stack.ports.audit_sink,
        stack.ports.reviews,
        stack.ports.dead_letters,
        TenantScope(stack.swarm.tenants),
    )
    story = await forgetful.show(task_id)
    assert story is not None
    assert (story.state, story.tenant, story.input) == ("committed", "acme", {"text": "hi"})
    assert story.attempts[0].judge is not None
    assert story.attempts[0].judge.verdict == "approve"
    assert await forgetful.show("01ARZ3NDEKTSV4RRFFQ69G5FAV") is None


async def test_a_long_input_is_audited_as_a_marked_excerpt(tmp_path: Path) -> None:
    stack = FakeStack(write_swarm(tmp_path), {"fake": FakeBackend()})
    long_text = "y" * (MAX_STORY_CHARS * 2)
    [task] = await stack.planner().submit([Submission("acme", "echo", {"text": long_text})])
    [submitted] = [e for e in stack.audit_sink.events("acme") if e.type is AuditEventType.SUBMITTED]
    assert "input" not in submitted.data
    excerpt = submitted.data["input_excerpt"]
    assert len(excerpt) <= MAX_STORY_CHARS
    assert is_cut(excerpt)
    assert excerpt.startswith('{"text":"yyy')
    # While it is pending, the Task itself gives the whole input.
    story = await story_json(stack, task.id)
    assert (story["state"], story["input"]) == ("pending", {"text": long_text})


async def test_a_denied_attempt_keeps_its_prompt_and_output_an_approved_one_not_twice(
    tmp_path: Path,
) -> None:
    stack = FakeStack(write_swarm(tmp_path), {"fake": FakeBackend()})
    planner = stack.planner()
    await planner.submit(
        [
            Submission("acme", "echo", {"text": "low", "confidence": 0.1}),
            Submission("acme", "echo", {"text": "high", "confidence": 0.95}),
        ]
    )
    async with Running(stack.worker(), stack.judge()):
        await eventually(lambda: _settled(stack, 2), within=10)
    decisions = {
        e.data["verdict"]: e.data
        for e in stack.audit_sink.events("acme")
        if e.type is AuditEventType.DECISION
    }
    assert decisions["deny"]["prompt"] == "Echo low"
    assert json.loads(decisions["deny"]["output"]) == {"echo": "low"}
    assert "prompt" not in decisions["approve"]  # the committed Result keeps it
    assert not [e for e in stack.audit_sink.events("acme") if e.type is AuditEventType.RESULT]


@pytest.mark.parametrize("size", [0, 1, MAX_STORY_CHARS, MAX_STORY_CHARS + 1, 10**6])
def test_cut_keeps_within_the_bound_and_marks_what_it_dropped(size: int) -> None:
    text = "z" * size
    kept = cut(text)
    assert kept is not None
    assert len(kept) <= MAX_STORY_CHARS
    if size <= MAX_STORY_CHARS:
        assert kept == text
        assert not is_cut(kept)
    else:
        assert is_cut(kept)
        dropped = int(kept.rsplit("[cut: ", 1)[1].split()[0])
        assert len(kept.split("…[cut: ")[0]) + dropped == size


def test_json_text_of_nothing_is_nothing() -> None:
    assert json_text(None) is None
    assert cut(None) is None
    assert json_text({"a": [1, 2]}) == '{"a":[1,2]}'


def test_a_pipeline_steps_run_and_step_are_linked_from_its_submitted_event() -> None:
    from chimera.models.audit import AuditEvent
    from chimera.services.story.build import StoryBuilder
    from chimera.services.story.model import TaskStory

    story = TaskStory("t1", "acme", "committed")
    StoryBuilder(story).apply(
        AuditEvent(
            type=AuditEventType.SUBMITTED,
            tenant="acme",
            task_id="t1",
            actor="planner",
            data={"skill": "echo", "attempt": 1, "input": {}, "run": "r1", "step": "classify"},
        )
    )
    assert story.as_json()["pipeline"] == {"run": "r1", "step": "classify"}
