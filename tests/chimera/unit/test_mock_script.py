"""The mock backend plays scripted tool calls, offline and deterministically."""

from __future__ import annotations

import json

import pytest

from chimera.models.config import MockConfig, MockToolCall
from chimera.models.llm import LLMRequest, Message, Role, ToolCall
from chimera.ports.llm import BackendError
from chimera.ports.tools import ToolResult
from chimera.services.mock_backend import MockBackend
from chimera.services.mock_script import render, tool_results
from chimera.services.worker.agent import AgentLimits, run_agent
from chimera.services.worker.core import Answer
from chimera.testing import FakeToolbox, binding

SCHEMA = {"type": "object", "properties": {"status": {"type": "string"}, "n": {"type": "integer"}}}


def request(**fields: object) -> LLMRequest:
    base: dict[str, object] = {
        "skill": "lookup",
        "messages": [Message.user("find it")],
        "output_schema": SCHEMA,
        "input": {"order_id": "A-17", "count": 3},
    }
    base.update(fields)
    return LLMRequest(**base)  # type: ignore[arg-type]


def scripted(**fields: object) -> MockBackend:
    config = MockConfig(
        tool_calls=[
            [
                MockToolCall(
                    tool="lookup_order", arguments={"id": "{{ order_id }}", "n": "{{ count }}"}
                )
            ],
            [
                MockToolCall(tool="search_kb", arguments={"q": "order {{ order_id }}"}),
                MockToolCall(tool="search_kb", arguments={"q": "refunds"}),
            ],
        ],
        **fields,  # type: ignore[arg-type]
    )
    return MockBackend({"lookup": config})


def test_templates_render_text_or_pass_the_value_itself() -> None:
    variables = {"order_id": "A-17", "count": 3, "tags": ["x"]}
    assert render({"a": "{{ count }}", "b": "n={{ count }}", "c": ["{{ tags }}"]}, variables) == {
        "a": 3,
        "b": "n=3",
        "c": [["x"]],
    }


async def test_each_step_plays_its_calls_then_the_answer_comes() -> None:
    backend = scripted()
    first = await backend.complete(request())
    assert first.output is None
    assert [(c.name, c.arguments) for c in first.tool_calls] == [
        ("lookup_order", {"id": "A-17", "n": 3})
    ]
    second = await backend.complete(request(step=2))
    assert [c.arguments["q"] for c in second.tool_calls] == ["order A-17", "refunds"]
    final = await backend.complete(request(step=3))
    assert final.tool_calls == []
    assert final.output is not None
    assert set(final.output) <= {"status", "n"}


async def test_a_fixed_output_may_quote_the_tools_results() -> None:
    backend = scripted(output={"status": "{{ tools.lookup_order.status }}", "n": "{{ count }}"})
    conversation = [
        Message.user("find it"),
        Message(role=Role.ASSISTANT, tool_calls=[ToolCall(id="c1", name="lookup_order")]),
        Message(
            role=Role.TOOL,
            tool_call_id="c1",
            name="lookup_order",
            content=json.dumps({"status": "shipped"}),
        ),
    ]
    final = await backend.complete(request(step=3, messages=conversation))
    assert final.output == {"status": "shipped", "n": 3}


async def test_a_template_naming_a_missing_field_is_a_non_retryable_backend_error() -> None:
    backend = MockBackend(
        {"lookup": MockConfig(tool_calls=[[MockToolCall(tool="t", arguments={"x": "{{ nope }}"})]])}
    )
    with pytest.raises(BackendError, match="nope") as raised:
        await backend.complete(request())
    assert not raised.value.kind.retryable


def test_tool_results_keep_the_last_answer_of_each_tool() -> None:
    messages = [
        Message(
            role=Role.ASSISTANT,
            tool_calls=[ToolCall(id="1", name="kb"), ToolCall(id="2", name="kb")],
        ),
        Message(role=Role.TOOL, tool_call_id="1", content="first"),
        Message(role=Role.TOOL, tool_call_id="2", content='{"hits": 2}'),
    ]
    assert tool_results(messages) == {"kb": {"hits": 2}}


async def test_the_agent_loop_runs_the_mocks_script_against_real_tool_functions() -> None:
    toolbox = FakeToolbox(
        {
            ("shop", "lookup_order"): lambda a: ToolResult(
                json.dumps({"status": "shipped", "id": a["id"]})
            ),
            ("kb", "search_kb"): lambda a: ToolResult(f"article about {a['q']}"),
        }
    )
    tools = {
        "lookup_order": binding("shop", "lookup_order"),
        "search_kb": binding("kb", "search_kb"),
    }
    backend = scripted(output={"status": "{{ tools.lookup_order.status }}", "n": 1})
    limits = AgentLimits(max_steps=5, timeout_s=1, default_confidence=0.5)
    run = await run_agent(request(), backend, limits, "acme", tools, toolbox)
    assert isinstance(run.outcome, Answer)
    assert run.outcome.output == {"status": "shipped", "n": 1}
    assert run.outcome.steps == 3
    assert [c[:2] for c in toolbox.calls] == [
        ("shop", "lookup_order"),
        ("kb", "search_kb"),
        ("kb", "search_kb"),
    ]
