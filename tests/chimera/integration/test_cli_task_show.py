"""``chimera task show``: a task's whole story, after real Workers and Judges ran it.

The tasks run through a real Worker and Judge on the real Redis (in a background thread,
``tests.chimera.ops_support.workers``, or in this test's loop over :class:`Stack`); the
command runs through click's test runner against the same prefix.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import yaml

from chimera.lib.keys import Keyspace
from chimera.models.excerpts import MAX_STORY_CHARS
from chimera.models.result import ErrorKind
from chimera.ports.llm import BackendError
from chimera.services.planner import Submission
from tests.chimera.helpers import ECHO_SKILL, FakeBackend, Running, eventually, write_swarm
from tests.chimera.integration.test_cli_tasks import Ops
from tests.chimera.ops_support import skill, workers, write_ops_swarm
from tests.chimera.stack import Stack
from tests.conftest import REDIS_URL

UNKNOWN_ID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"


@pytest.fixture
def ops(tmp_path: Path, keyspace: Keyspace, real_redis: aioredis.Redis) -> Ops:
    return Ops(write_ops_swarm(tmp_path), keyspace.prefix)


def run_one(ops: Ops, keyspace: Keyspace, skill_name: str, code: int, text: str = "hello") -> str:
    """Submit one task, let real workers run it to its outcome (exit ``code``), return its id."""
    with workers(Path(ops.swarm), REDIS_URL, keyspace.prefix):
        result = ops(
            "submit",
            "--tenant",
            "acme",
            "--skill",
            skill_name,
            "--input",
            json.dumps({"text": text}),
            "--wait",
            "--timeout",
            "30",
        )
    assert result.exit_code == code, result.output
    return result.stdout.split()[0]


def show(ops: Ops, task_id: str, *args: str) -> dict[str, Any]:
    story: dict[str, Any] = ops.json("task show", task_id, *args)
    return story


def test_a_committed_task_tells_input_prompt_output_verdict_commit_and_timings(
    ops: Ops, keyspace: Keyspace
) -> None:
    task_id = run_one(ops, keyspace, "approve", 0)
    story = show(ops, task_id)
    assert (story["version"], story["task_id"], story["tenant"]) == (1, task_id, "acme")
    assert (story["state"], story["skill"], story["input"]) == (
        "committed",
        "approve",
        {"text": "hello"},
    )
    assert story["trace_id"]
    assert story["session"]
    [attempt] = story["attempts"]
    assert attempt["prompt"] == "Answer hello."
    assert attempt["output"] == {"answer": "yes"}
    assert attempt["confidence"] == 0.95
    assert attempt["judge"]["verdict"] == "approve"
    assert attempt["judge"]["policy"] == "threshold"
    assert attempt["ended"] == "committed"
    assert attempt["worker"]
    assert attempt["tokens"]["input"] > 0
    timings = attempt["timings_ms"]
    assert all(timings[stage] is not None and timings[stage] >= 0 for stage in ("queued", "run"))
    assert timings["judge"] is not None
    assert story["commit"]["by"] == "judge"
    assert story["commit"]["process"].startswith("judge-")  # which Judge process
    assert attempt["judge"]["process"] == story["commit"]["process"]
    assert story["commit"]["attempt"] == 1
    assert story["total_ms"] is not None
    assert story["total_ms"] > 0
    types = [e["type"] for e in story["events"]]
    assert types == ["submitted", "decision", "committed"]
    assert types[-2:] == ["decision", "committed"]
    text = ops("task show", task_id)
    assert text.exit_code == 0, text.output
    for expected in (
        f"task {task_id}  tenant acme",
        "state committed",
        '"text": "hello"',
        "attempt 1 — committed by judge",
        "Answer hello.",
        '"answer": "yes"',
        "judge (threshold, judge judge-",
        "approve at confidence 0.95",
        "committed:",
        "timeline:",
    ):
        assert expected in text.stdout, expected


def test_a_denied_task_keeps_what_it_was_asked_and_answered(ops: Ops, keyspace: Keyspace) -> None:
    task_id = run_one(ops, keyspace, "deny", 3, text="x" * (MAX_STORY_CHARS + 500))
    story = show(ops, task_id)
    assert story["state"] == "denied"
    # The input was too long to keep whole: an excerpt, marked as cut.
    assert story["input"] is None
    assert len(story["input_excerpt"]) <= MAX_STORY_CHARS
    assert "more characters]" in story["input_excerpt"]
    [attempt] = story["attempts"]
    assert attempt["ended"] == "denied"
    assert attempt["judge"]["verdict"] == "deny"
    assert "review_at 0.5" in attempt["judge"]["reason"]
    assert attempt["confidence"] == 0.1
    # The prompt (the long input rendered into it) is kept, cut with a marker.
    assert attempt["prompt"].startswith("Answer xxx")
    assert len(attempt["prompt"]) <= MAX_STORY_CHARS
    assert attempt["prompt"].endswith("more characters]")
    assert attempt["output"] == {"answer": "yes"}
    assert story["commit"] is None
    assert "attempt 1 — denied by judge" in ops("task show", task_id).stdout


def test_a_reviewed_task_shows_the_human_decision(ops: Ops, keyspace: Keyspace) -> None:
    task_id = run_one(ops, keyspace, "park", 4)
    waiting = show(ops, task_id)
    assert waiting["state"] == "review"
    assert waiting["review"]["kind"] == "result"
    assert "sensitive" in waiting["review"]["reason"]
    assert waiting["attempts"][0]["ended"] == "review"
    assert "waits for a human since" in ops("task show", task_id).stdout
    approved = ops("review approve", task_id, "--actor", "rita", "--note", "checked by phone")
    assert approved.exit_code == 0, approved.output
    story = show(ops, task_id)
    assert story["state"] == "committed"
    assert story["review"] is None
    [human] = story["human_decisions"]
    assert (human["actor"], human["verdict"], human["note"]) == (
        "human:rita",
        "approve",
        "checked by phone",
    )
    assert human["at"]
    assert story["commit"]["by"] == "human:rita"
    [attempt] = story["attempts"]
    assert attempt["judge"]["verdict"] == "review"
    assert attempt["ended"] == "committed"
    text = ops("task show", task_id).stdout
    assert "human:rita  approve — checked by phone" in text


def test_an_unknown_id_exits_2_with_one_line(ops: Ops, keyspace: Keyspace) -> None:
    result = ops("task show", UNKNOWN_ID)
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: no task of this swarm has the id {UNKNOWN_ID}"
    task_id = run_one(ops, keyspace, "approve", 0)
    elsewhere = ops("task show", task_id, "--tenant", "globex")
    assert elsewhere.exit_code == 2
    assert "no task of tenant 'globex'" in elsewhere.stderr
    bad_tenant = ops("task show", task_id, "--tenant", "nobody")
    assert bad_tenant.exit_code == 2
    assert "unknown tenant 'nobody'" in bad_tenant.stderr


async def test_retried_then_committed_shows_both_attempts(
    tmp_path: Path, real_redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    # The first call fails (a retryable backend error), the second succeeds.
    swarm = write_swarm(tmp_path)
    backend = FakeBackend(fail_times=1, error=BackendError("upstream 503", ErrorKind.BACKEND))
    stack = Stack(swarm, real_redis, keyspace, {"fake": backend})
    [task] = await stack.planner().submit([Submission("acme", "echo", {"text": "hi"})])
    async with Running(stack.worker(promote_every_s=0.01), stack.judge()):
        await eventually(lambda: _settled(stack), within=20)
    story = await _story(stack, task.id)
    assert story["state"] == "committed"
    first, second = story["attempts"]
    assert (first["attempt"], first["ended"], first["status"]) == (1, "retried", "failed")
    assert "upstream 503" in first["error"]
    assert first["prompt"] == "Echo hi"
    assert first["ended_by"].startswith("worker:")
    assert second["attempt"] == 2
    assert (second["ended"], second["output"]) == ("committed", {"echo": "hi"})
    assert second["prompt"] == "Echo hi"
    assert second["timings_ms"]["queued"] is not None
    assert story["commit"]["attempt"] == 2


async def test_judge_retries_are_attempts_with_the_judges_feedback(
    tmp_path: Path, real_redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    judge = {"policy": "threshold", "approve_at": 0.8, "review_at": 0.5, "on_deny": "retry"}
    swarm = write_swarm(tmp_path, judge=judge)
    stack = Stack(swarm, real_redis, keyspace, {"fake": FakeBackend()})
    low = {"text": "meh", "confidence": 0.2}
    [task] = await stack.planner().submit([Submission("acme", "echo", low)])
    async with Running(stack.worker(promote_every_s=0.01), stack.judge()):
        await eventually(lambda: _settled(stack), within=20)
    story = await _story(stack, task.id)
    assert story["state"] == "denied"
    assert [a["attempt"] for a in story["attempts"]] == [1, 2, 3]
    assert [a["ended"] for a in story["attempts"]] == ["retried", "retried", "denied"]
    for attempt in story["attempts"]:
        assert attempt["output"] == {"echo": "meh"}
        assert attempt["judge"]["verdict"] == "deny"
        assert attempt["prompt"] == "Echo meh"
    assert story["attempts"][0]["feedback"] == story["attempts"][0]["judge"]["reason"]


async def test_a_dead_lettered_task_shows_why(
    tmp_path: Path, real_redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    swarm = write_swarm(tmp_path, skills=[{**ECHO_SKILL, "retry": {"max_attempts": 2}}])
    backend = FakeBackend(fail_times=9, error=BackendError("model overloaded"))
    stack = Stack(swarm, real_redis, keyspace, {"fake": backend})
    [task] = await stack.planner().submit([Submission("acme", "echo", {"text": "hi"})])
    async with Running(stack.worker(promote_every_s=0.01), stack.judge()):
        await eventually(lambda: _settled(stack), within=20)
    story = await _story(stack, task.id)
    assert story["state"] == "dead_lettered"
    assert [a["ended"] for a in story["attempts"]] == ["retried", "dead_lettered"]
    letter = story["dead_letter"]
    assert letter["reason"] == "gave up after 2 attempts"
    assert "model overloaded" in letter["error"]
    assert letter["in_queue"] is True
    assert story["input"] == {"text": "hi"}


def test_a_tool_using_task_shows_its_tool_calls_and_a_sensitive_calls_approval(
    tmp_path: Path, keyspace: Keyspace, real_redis: aioredis.Redis
) -> None:
    ops = Ops(_tools_swarm(tmp_path), keyspace.prefix)
    order = {"order_id": "A-1001", "question": "Where is my order?"}
    refund = {"order_id": "A-1001", "question": "refund please"}
    with workers(Path(ops.swarm), REDIS_URL, keyspace.prefix):
        answered = ops(
            "submit", "--tenant", "acme", "--skill", "answer_order", "--input", json.dumps(order),
            "--wait", "--timeout", "60",
        )  # fmt: skip
        assert answered.exit_code == 0, answered.output
        parked = ops(
            "submit", "--tenant", "acme", "--skill", "refund", "--input", json.dumps(refund),
            "--wait", "--timeout", "60",
        )  # fmt: skip
        assert parked.exit_code == 4, parked.output
        refund_id = parked.stdout.split()[0]
        waiting = show(ops, refund_id)
        assert waiting["review"]["kind"] == "tool_calls"
        [proposed] = waiting["review"]["tool_calls"]
        assert (proposed["server"], proposed["tool"]) == ("desk", "issue_refund")
        assert waiting["attempts"][0]["parked_for"] == ["issue_refund"]
        approved = ops("review approve", refund_id, "--actor", "olga", "--note", "ok")
        assert approved.exit_code == 0, approved.output
        _until(lambda: show(ops, refund_id)["state"] == "committed")
    story = show(ops, answered.stdout.split()[0])
    [attempt] = story["attempts"]
    calls = {(c["server"], c["tool"]): c for c in attempt["tool_calls"]}
    assert set(calls) == {("desk", "lookup_order"), ("desk", "search_kb")}
    for call in calls.values():
        assert not call["is_error"]
        assert call["result_chars"] > 0
        assert call["duration_ms"] >= 0
    assert attempt["output"]["order_status"]
    assert "desk.lookup_order" in ops("task show", story["task_id"]).stdout
    refunded = show(ops, refund_id)
    [attempt] = refunded["attempts"]
    assert [c["tool"] for c in attempt["tool_calls"]] == ["issue_refund"]
    [human] = refunded["human_decisions"]
    assert (human["kind"], human["tools"], human["actor"]) == (
        "tool_calls",
        ["issue_refund"],
        "human:olga",
    )
    types = [e["type"] for e in refunded["events"]]
    assert types.index("review") < types.index("human_decision") < types.index("resumed")
    assert refunded["commit"]["by"] == "judge"


def _tools_swarm(folder: Path) -> Path:
    """The demo ``answer_order`` skill and a ``refund`` skill whose tool is sensitive."""
    (folder / "skills").mkdir(parents=True, exist_ok=True)
    repo = Path(__file__).resolve().parents[3]
    (folder / "skills" / "answer_order.yaml").write_text(
        (repo / "skills" / "answer_order.yaml").read_text()
    )
    refund_skill = skill(
        "refund",
        prompt="Refund order {{ order_id }}: {{ question }}",
        input_schema={
            "type": "object",
            "required": ["order_id", "question"],
            "properties": {"order_id": {"type": "string"}, "question": {"type": "string"}},
        },
        tools=["desk.issue_refund"],
        max_steps=3,
        mock={
            "tool_calls": [
                [
                    {
                        "tool": "issue_refund",
                        "arguments": {"order_id": "{{ order_id }}", "amount": 1, "reason": "dup"},
                    }
                ]
            ],
            "output": {"answer": "refunded {{ tools.issue_refund.refund_id }}"},
        },
    )
    (folder / "skills" / "refund.yaml").write_text(yaml.safe_dump(refund_skill))
    swarm = {
        "version": 1,
        "name": "tools",
        "skills": ["skills/*.yaml"],
        "tenants": {"acme": {"skills": ["answer_order", "refund"]}},
        "mcp_servers": {
            "desk": {
                "command": sys.executable,
                "args": ["-m", "chimera.demo.support_tools"],
                "tool_settings": {"issue_refund": {"sensitive": True}},
            }
        },
        "judge": {"policy": "threshold", "approve_at": 0.8, "review_at": 0.5},
        "audit": {"sinks": ["redis"]},
    }
    path = folder / "swarm.yaml"
    path.write_text(yaml.safe_dump(swarm))
    return path


async def _settled(stack: Stack) -> bool:
    return bool(await stack.client.hlen(stack.keys().settled) >= 1)


async def _story(stack: Stack, task_id: str) -> dict[str, Any]:
    """The story as the service tells it (these swarms' ``fake`` backend is no plugin)."""
    from chimera.lib.redis_audit import RedisAuditTrail
    from chimera.lib.redis_stores import RedisDeadLetterStore, RedisReviewStore
    from chimera.lib.redis_task_status import RedisTaskStatusStore
    from chimera.services.story.service import TaskStories
    from chimera.services.tenants import TenantScope

    stories = TaskStories(
        RedisTaskStatusStore(stack.client, stack.keyspace),
        RedisAuditTrail(stack.client, stack.keyspace),
        RedisReviewStore(stack.client, stack.keyspace),
        RedisDeadLetterStore(stack.client, stack.keyspace),
        TenantScope(stack.swarm.tenants),
    )
    story = await stories.show(task_id)
    assert story is not None
    # Through JSON, as `--json` prints it: the shape is what is checked.
    return dict(json.loads(json.dumps(story.as_json())))


def _until(check: Any, within: float = 60.0) -> None:
    import time

    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)
