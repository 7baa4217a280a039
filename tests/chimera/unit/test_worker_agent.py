"""The agent loop: LLM steps and tool calls until a final answer, a failure or a pause."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from chimera.models.llm import (
    ConfidenceSource,
    LLMRequest,
    LLMResponse,
    Role,
    ToolCall,
)
from chimera.models.result import ErrorKind, Usage
from chimera.ports.llm import BackendError
from chimera.ports.tools import ToolResult, ToolUnavailable
from chimera.services.worker.agent import AgentLimits, NeedsApproval, digest, run_agent
from chimera.services.worker.core import Answer, Failure
from chimera.testing import FakeToolbox, binding, make_request

LIMITS = AgentLimits(max_steps=4, timeout_s=1.0, default_confidence=0.5)


class ScriptedBackend:
    """Answers each step from a script and keeps every request it saw."""

    name = "scripted"

    def __init__(self, script: Sequence[LLMResponse | Exception], delay_s: float = 0.0) -> None:
        self.script = list(script)
        self.requests: list[LLMRequest] = []
        self.delay_s = delay_s

    async def complete(self, request: LLMRequest) -> LLMResponse:
        self.requests.append(request)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        answer = self.script[min(len(self.requests), len(self.script)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer


def calls(*pairs: tuple[str, dict[str, object]]) -> LLMResponse:
    return LLMResponse(
        tool_calls=[ToolCall(id=f"c{i}", name=n, arguments=a) for i, (n, a) in enumerate(pairs)],  # type: ignore[arg-type]
        usage=Usage(prompt_tokens=10, completion_tokens=2),
    )


FINAL = LLMResponse(
    output={"answer": "4"}, confidence=0.9, usage=Usage(prompt_tokens=20, completion_tokens=5)
)


async def test_a_single_step_answer_needs_no_tools() -> None:
    backend = ScriptedBackend([FINAL])
    run = await run_agent(make_request(), backend, LIMITS, "acme")
    assert run.outcome == Answer({"answer": "4"}, 0.9, ConfidenceSource.REPORTED, FINAL.usage, 1)
    assert run.tool_calls == []


async def test_parallel_tool_calls_run_together_and_their_results_go_back() -> None:
    started: list[str] = []

    async def lookup(arguments: dict[str, object]) -> ToolResult:
        started.append(str(arguments["id"]))
        await asyncio.sleep(0.05)  # both calls must be in flight at once
        assert len(started) == 2
        return ToolResult(f"order {arguments['id']}: shipped")

    toolbox = FakeToolbox({("shop", "lookup"): lookup})
    tools = {"lookup": binding("shop", "lookup")}
    backend = ScriptedBackend([calls(("lookup", {"id": 1}), ("lookup", {"id": 2})), FINAL])
    run = await run_agent(make_request(), backend, LIMITS, "acme", tools, toolbox)
    assert isinstance(run.outcome, Answer)
    assert run.outcome.steps == 2
    assert run.outcome.usage == Usage(prompt_tokens=30, completion_tokens=7)
    second = backend.requests[1]
    assert second.step == 2
    roles = [m.role for m in second.messages]
    assert roles == [Role.USER, Role.ASSISTANT, Role.TOOL, Role.TOOL]
    assert {m.tool_call_id: m.content for m in second.messages[2:]} == {
        "c0": "order 1: shipped",
        "c1": "order 2: shipped",
    }
    assert [(r.server, r.tool, r.is_error) for r in run.tool_calls] == [
        ("shop", "lookup", False)
    ] * 2
    assert run.tool_calls[0].arguments_digest == digest({"id": 1})
    assert [c[3] for c in toolbox.calls] == ["acme", "acme"]


async def test_a_tools_own_error_goes_back_to_the_model() -> None:
    toolbox = FakeToolbox(
        {("shop", "lookup"): lambda a: ToolResult("no such order", is_error=True)}
    )
    backend = ScriptedBackend([calls(("lookup", {"id": 9})), FINAL])
    run = await run_agent(
        make_request(), backend, LIMITS, "acme", {"lookup": binding("shop", "lookup")}, toolbox
    )
    assert isinstance(run.outcome, Answer)
    tool_message = backend.requests[1].messages[-1]
    assert (tool_message.is_error, tool_message.content) == (True, "no such order")
    assert run.tool_calls[0].error == "no such order"


async def test_a_made_up_tool_is_an_error_result_and_the_real_calls_still_run() -> None:
    toolbox = FakeToolbox({("shop", "lookup"): lambda a: ToolResult("found")})
    backend = ScriptedBackend([calls(("teleport", {}), ("lookup", {"id": 1})), FINAL])
    run = await run_agent(
        make_request(), backend, LIMITS, "acme", {"lookup": binding("shop", "lookup")}, toolbox
    )
    assert isinstance(run.outcome, Answer)
    answers = {m.tool_call_id: (m.is_error, m.content) for m in backend.requests[1].messages[2:]}
    assert answers == {
        "c0": (True, "no tool named 'teleport' (tools: lookup)"),
        "c1": (False, "found"),
    }


async def test_arguments_that_are_not_json_are_handed_back_without_a_call() -> None:
    toolbox = FakeToolbox({("shop", "lookup"): lambda a: ToolResult("found")})
    broken = ToolCall(id="c0", name="lookup", arguments_error="Expecting ',' at char 9")
    backend = ScriptedBackend([LLMResponse(tool_calls=[broken]), FINAL])
    run = await run_agent(
        make_request(), backend, LIMITS, "acme", {"lookup": binding("shop", "lookup")}, toolbox
    )
    assert isinstance(run.outcome, Answer)
    assert toolbox.calls == []
    answer = backend.requests[1].messages[-1]
    assert answer.is_error
    assert answer.content == "arguments are not a JSON object: Expecting ',' at char 9"


async def test_a_server_that_is_down_fails_the_attempt_as_retryable() -> None:
    toolbox = FakeToolbox({("shop", "lookup"): lambda a: ToolResult("x")}, down={"shop"})
    backend = ScriptedBackend([calls(("lookup", {"id": 1})), FINAL])
    run = await run_agent(
        make_request(), backend, LIMITS, "acme", {"lookup": binding("shop", "lookup")}, toolbox
    )
    assert isinstance(run.outcome, Failure)
    assert run.outcome.kind is ErrorKind.TOOL
    assert run.outcome.kind.retryable


async def test_max_steps_ends_the_loop_with_that_reason() -> None:
    toolbox = FakeToolbox({("shop", "lookup"): lambda a: ToolResult("again")})
    backend = ScriptedBackend([calls(("lookup", {"id": 1}))])  # never answers
    run = await run_agent(
        make_request(), backend, LIMITS, "acme", {"lookup": binding("shop", "lookup")}, toolbox
    )
    assert run.outcome == Failure(ErrorKind.MAX_STEPS, "no final answer within max_steps=4")
    assert len(backend.requests) == 4
    assert not ErrorKind.MAX_STEPS.retryable


async def test_a_sensitive_tool_pauses_the_loop_before_anything_runs() -> None:
    toolbox = FakeToolbox({("bank", "refund"): lambda a: ToolResult("refunded")})
    tools = {"refund": binding("bank", "refund", sensitive=True)}
    backend = ScriptedBackend([calls(("refund", {"amount": 5}))])
    run = await run_agent(make_request(), backend, LIMITS, "acme", tools, toolbox)
    assert isinstance(run.outcome, NeedsApproval)
    assert [c.name for c in run.outcome.calls] == ["refund"]
    assert run.outcome.messages[-1].role is Role.ASSISTANT
    assert toolbox.calls == []


async def test_backend_errors_and_timeouts_map_to_failures() -> None:
    limited = AgentLimits(max_steps=1, timeout_s=0.01, default_confidence=0.5)
    slow = await run_agent(make_request(), ScriptedBackend([FINAL], delay_s=0.2), limited, "acme")
    assert isinstance(slow.outcome, Failure)
    assert slow.outcome.kind is ErrorKind.TIMEOUT
    rate = BackendError("slow down", ErrorKind.RATE_LIMIT, retry_after_s=3)
    limited_run = await run_agent(make_request(), ScriptedBackend([rate]), LIMITS, "acme")
    assert limited_run.outcome == Failure(ErrorKind.RATE_LIMIT, "slow down", 3)
    buggy = await run_agent(make_request(), ScriptedBackend([KeyError("x")]), LIMITS, "acme")
    assert isinstance(buggy.outcome, Failure)
    assert buggy.outcome.kind is ErrorKind.BACKEND


async def test_no_confidence_from_the_backend_means_the_skill_default() -> None:
    unsure = LLMResponse(output={"answer": "4"})
    run = await run_agent(make_request(), ScriptedBackend([unsure]), LIMITS, "acme")
    assert isinstance(run.outcome, Answer)
    assert (run.outcome.confidence, run.outcome.confidence_source) == (
        0.5,
        ConfidenceSource.DEFAULT,
    )


async def test_a_raising_toolbox_is_a_retryable_tool_failure() -> None:
    def broken(arguments: dict[str, object]) -> ToolResult:
        raise ToolUnavailable("session closed")

    toolbox = FakeToolbox({("shop", "lookup"): broken})
    run = await run_agent(
        make_request(),
        ScriptedBackend([calls(("lookup", {}))]),
        LIMITS,
        "acme",
        {"lookup": binding("shop", "lookup")},
        toolbox,
    )
    assert isinstance(run.outcome, Failure)
    assert "session closed" in run.outcome.message
