"""A sensitive tool call waits for a human: parked with its conversation, then resumed.

Approved, the call runs on whichever Worker takes the task next; refused, the model gets
the refusal as the call's result. Either way the same attempt goes on and ends at the Judge.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from chimera.config.loader import load_swarm
from chimera.config.swarm import Skill, Swarm
from chimera.models.audit import AuditEventType
from chimera.models.llm import LLMRequest, LLMResponse, Role
from chimera.ports.tools import ToolBinding, ToolResult
from chimera.services.audit import FanoutAuditLogger
from chimera.services.judge import Judge, JudgeSettings
from chimera.services.judge_policy import ThresholdPolicy
from chimera.services.mock_backend import MockBackend
from chimera.services.planner import Planner, Submission
from chimera.services.review import ReviewService
from chimera.services.worker import Worker, WorkerSettings
from chimera.services.worker.approval import is_tool_approval
from chimera.testing import FakePorts, FakeToolbox, binding
from tests.chimera.helpers import Running, eventually

REFUND_SKILL: dict[str, Any] = {
    "name": "refund",
    "backend": "mock",
    "prompt": "Refund order {{ order_id }}",
    "input_schema": {
        "type": "object",
        "required": ["order_id"],
        "properties": {"order_id": {"type": "string"}},
    },
    "output_schema": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"type": "string"}},
    },
    "tools": ["desk.lookup_order", "desk.issue_refund"],
    "max_steps": 4,
    "mock": {
        "confidence": 0.95,
        "output": {"status": "done"},
        "tool_calls": [
            [{"tool": "lookup_order", "arguments": {"order_id": "{{ order_id }}"}}],
            [{"tool": "issue_refund", "arguments": {"order_id": "{{ order_id }}", "cents": 1999}}],
        ],
    },
}


def refund_swarm(folder: Path) -> Swarm:
    (folder / "skills").mkdir()
    (folder / "skills" / "refund.yaml").write_text(yaml.safe_dump(REFUND_SKILL))
    swarm = {
        "skills": ["skills/*.yaml"],
        "mcp_servers": {
            "desk": {"command": "true", "tool_settings": {"issue_refund": {"sensitive": True}}}
        },
        "tenants": {"acme": {"skills": ["refund"]}},
        "audit": {"sinks": ["log"]},
    }
    (folder / "swarm.yaml").write_text(yaml.safe_dump(swarm))
    return load_swarm(folder / "swarm.yaml")


class Watching(MockBackend):
    """The mock backend, remembering every request it answered."""

    def __init__(self, swarm: Swarm) -> None:
        super().__init__({n: s.config.mock for n, s in swarm.skills.items()})
        self.requests: list[LLMRequest] = []

    async def complete(self, request: LLMRequest) -> LLMResponse:
        self.requests.append(request)
        return await super().complete(request)


class Desk:
    """The swarm's services over the fakes, with a fake support-desk tool server."""

    def __init__(self, folder: Path) -> None:
        self.swarm = refund_swarm(folder)
        self.ports = FakePorts()
        self.audit = FanoutAuditLogger([self.ports.audit_sink])
        self.backend = Watching(self.swarm)
        self.toolbox = FakeToolbox(
            {
                ("desk", "lookup_order"): lambda a: ToolResult(json.dumps({"status": "shipped"})),
                ("desk", "issue_refund"): lambda a: ToolResult(json.dumps({"refunded": a})),
            }
        )
        self.tools = {
            "lookup_order": binding("desk", "lookup_order"),
            "issue_refund": binding("desk", "issue_refund", sensitive=True),
        }

    async def tools_for(self, skill: Skill, tenant: str) -> dict[str, ToolBinding]:
        return self.tools

    def worker(self, name: str) -> Worker:
        return Worker(
            self.swarm,
            self.ports.queue,
            {"mock": self.backend},
            consumer=name,
            settings=WorkerSettings(block_ms=20),
            audit=self.audit,
            toolbox=self.toolbox,
            tools_for=self.tools_for,
            pending_audit=self.ports.pending_audit,
        )

    def judge(self) -> Judge:
        return Judge(
            self.swarm,
            self.ports.queue,
            self.ports.uow,
            {"threshold": ThresholdPolicy()},
            self.audit,
            settings=JudgeSettings(block_ms=20),
            pending=self.ports.pending_audit,
        )

    def review(self) -> ReviewService:
        return ReviewService(
            self.ports.reviews, self.audit, ["acme"], pending_audit=self.ports.pending_audit
        )

    async def submit(self) -> str:
        planner = Planner(self.swarm, self.ports.queue, self.ports.sessions, self.audit)
        [task] = await planner.submit([Submission("acme", "refund", {"order_id": "A-7"})], "s1")
        return task.id

    def called(self) -> list[str]:
        return [tool for _, tool, _, _ in self.toolbox.calls]


@pytest.fixture
def desk(tmp_path: Path) -> Desk:
    return Desk(tmp_path)


async def park(desk: Desk) -> str:
    task_id = await desk.submit()
    async with Running(desk.worker("first")):
        await eventually(lambda: _parked(desk, task_id))
    return task_id


async def _parked(desk: Desk, task_id: str) -> bool:
    return task_id in desk.ports.tenant("acme").review


async def test_a_sensitive_call_waits_with_its_conversation_and_nothing_runs(desk: Desk) -> None:
    task_id = await park(desk)
    assert desk.called() == ["lookup_order"]  # the refund has not happened
    [(tenant, item)] = await desk.review().pending()
    assert tenant == "acme"
    assert is_tool_approval(item)
    [proposed] = item.details["tool_calls"]
    assert (proposed["tool"], proposed["server"]) == ("issue_refund", "desk")
    assert proposed["arguments"] == {"order_id": "A-7", "cents": 1999}
    assert item.result.output is None
    assert "issue_refund" in item.decision.reason
    session = desk.ports.tenant("acme").session("s1")
    assert session["review"] == "1"
    kinds = [e.type for e in desk.ports.audit_sink.events("acme") if e.task_id == task_id]
    assert AuditEventType.REVIEW in kinds
    assert AuditEventType.TOOL_CALL in kinds  # the lookup, which needed no one's approval


async def test_approved_the_call_runs_on_another_worker_and_the_task_commits(desk: Desk) -> None:
    task_id = await park(desk)
    decided = await desk.review().decide(task_id, approve=True, actor="ana", note="ok")
    assert decided.outcome == "resumed"
    async with Running(desk.worker("second"), desk.judge()):
        await eventually(lambda: _committed(desk, task_id))
    assert desk.called() == ["lookup_order", "issue_refund"]
    committed = json.loads(desk.ports.tenant("acme").committed[task_id])
    assert committed["output"] == {"status": "done"}
    assert committed["attempt"] == 1  # the same attempt went on
    session = desk.ports.tenant("acme").session("s1")
    assert (session["review"], session.get("retried", "0")) == ("0", "0")
    kinds = [e.type for e in desk.ports.audit_sink.events("acme") if e.task_id == task_id]
    for kind in (
        AuditEventType.HUMAN_DECISION,
        AuditEventType.RESUMED,
        AuditEventType.DECISION,
        AuditEventType.COMMITTED,
    ):
        assert kinds.count(kind) == 1, (kind, kinds)
    assert (await desk.ports.audit_sink.read("acme")).ok


async def test_refused_the_model_gets_the_refusal_as_the_calls_result(desk: Desk) -> None:
    task_id = await park(desk)
    await desk.review().decide(task_id, approve=False, actor="ana", note="over the limit")
    async with Running(desk.worker("second"), desk.judge()):
        await eventually(lambda: _committed(desk, task_id))
    assert desk.called() == ["lookup_order"]  # the refund never ran
    last = desk.backend.requests[-1]
    answer = last.messages[-1]
    assert answer.role is Role.TOOL
    assert answer.is_error
    assert answer.content == "a human refused this call: over the limit"


async def test_reject_with_retry_on_a_tool_call_is_a_refusal(desk: Desk) -> None:
    task_id = await park(desk)
    decided = await desk.review().retry(task_id, "not without a manager", actor="ana")
    assert decided.outcome == "resumed"
    [entry] = list(desk.ports.tenant("acme").tasks)
    resumed = json.loads(entry[1]["body"])["resume"]
    assert (resumed["approved"], resumed["note"], resumed["by"]) == (
        False,
        "not without a manager",
        "human:ana",
    )


async def _committed(desk: Desk, task_id: str) -> bool:
    return task_id in desk.ports.tenant("acme").committed


async def test_a_conversation_too_long_to_park_fails_the_attempt_without_the_call(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("chimera.models.llm.MAX_PAUSE_BYTES", 200)
    task_id = await desk.submit()
    async with Running(desk.worker("first")):
        await eventually(lambda: _retried(desk, task_id))
    assert "issue_refund" not in desk.called()
    assert task_id not in desk.ports.tenant("acme").review
    retried = [
        e
        for e in desk.ports.audit_sink.events("acme")
        if e.task_id == task_id and e.type is AuditEventType.RETRIED
    ]
    assert "cannot wait for approval" in json.dumps(retried[0].data)


async def _retried(desk: Desk, task_id: str) -> bool:
    return any(
        e.task_id == task_id and e.type is AuditEventType.RETRIED
        for e in desk.ports.audit_sink.events("acme")
    )
