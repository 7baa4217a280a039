"""The backend against a fake OpenAI-compatible server running for real on a loopback port.

Real HTTP, real sockets, the backend's own httpx client: a tool-calling conversation with
parallel calls and a tool error handed back, and structured-output negotiation with
servers that refuse ``json_schema`` (HTTP 500 with a validation error) and ``json_object``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import pytest
from chimera_swarm_openai.backend import OpenAIBackend
from chimera_swarm_openai.settings import OpenAISettings
from chimera_swarm_openai.structured import Mode
from fake_openai_server import FakeOpenAIServer, running

from chimera import Role
from chimera.testing import continue_with_tool_results, make_request, make_tool_request


class NoSleep:
    """Records any in-process wait: a refused request must not cause one."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def refuse() -> frozenset[str]:
    return frozenset()


@pytest.fixture
def server(refuse: frozenset[str]) -> Iterator[FakeOpenAIServer]:
    with running(refuse) as fake:
        yield fake


@pytest.fixture
def no_sleep() -> NoSleep:
    return NoSleep()


@pytest.fixture
async def backend(server: FakeOpenAIServer, no_sleep: NoSleep) -> AsyncIterator[OpenAIBackend]:
    settings = OpenAISettings(base_url=server.url, max_retries=2, timeout_s=10)
    async with OpenAIBackend(settings, sleep=no_sleep, environ={}) as backend:
        yield backend


async def test_a_tool_calling_conversation_with_parallel_calls_and_a_tool_error(
    backend: OpenAIBackend, server: FakeOpenAIServer
) -> None:
    request = make_tool_request(model="local-model")

    asked = await backend.complete(request)

    assert asked.output is None
    assert [(c.id, c.name, c.arguments) for c in asked.tool_calls] == [
        ("call_order", "lookup_order", {"order_id": "A-1"}),
        ("call_stock", "check_stock", {"sku": "SKU-9"}),
    ]
    assert asked.model == "local-model"
    assert (asked.usage.prompt_tokens, asked.usage.completion_tokens) == (30, 7)
    first = server.requests[0]
    assert [t["function"]["name"] for t in first["tools"]] == ["lookup_order", "check_stock"]
    assert first["tools"][0]["function"]["parameters"] == request.tools[0].input_schema
    assert first["tool_choice"] == "auto"

    follow_up = continue_with_tool_results(
        request,
        asked,
        results={"call_order": "order A-1 shipped", "call_stock": "unknown SKU"},
        errors=["call_stock"],
    )
    answered = await backend.complete(follow_up)

    assert answered.output == {"answer": "order A-1 shipped; Error: unknown SKU"}
    assert answered.tool_calls == []
    second = server.requests[1]
    roles = [m["role"] for m in second["messages"]]
    assert roles == ["user", "assistant", "tool", "tool"]
    assistant = second["messages"][1]
    assert [c["id"] for c in assistant["tool_calls"]] == ["call_order", "call_stock"]
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == {"order_id": "A-1"}
    tools = second["messages"][2:]
    assert [(m["tool_call_id"], m["content"]) for m in tools] == [
        ("call_order", "order A-1 shipped"),
        ("call_stock", "Error: unknown SKU"),
    ]
    assert follow_up.messages[-1].role is Role.TOOL


@pytest.mark.parametrize("refuse", [frozenset({"json_schema"})])
async def test_a_server_refusing_json_schema_gets_json_object_from_then_on(
    backend: OpenAIBackend, server: FakeOpenAIServer, no_sleep: NoSleep
) -> None:
    first = await backend.complete(make_request(model="local-model"))
    second = await backend.complete(make_request(model="local-model"))

    assert first.output == second.output == {"answer": "4"}
    # One refusal, answered by stepping down at once: no in-process retry, no wait.
    assert server.kinds() == ["json_schema", "json_object", "json_object"]
    assert no_sleep.waits == []
    assert server.requests[1]["response_format"]["schema"] == make_request().output_schema
    assert "JSON Schema" in server.requests[2]["messages"][0]["content"]
    assert backend.formats.known(server.url, with_tools=False) is Mode.JSON_OBJECT_WITH_SCHEMA


@pytest.mark.parametrize("refuse", [frozenset({"json_schema", "json_object"})])
async def test_a_server_refusing_both_formats_is_asked_for_json_in_the_prompt(
    backend: OpenAIBackend, server: FakeOpenAIServer, no_sleep: NoSleep
) -> None:
    first = await backend.complete(make_request(model="local-model"))
    second = await backend.complete(make_request(model="local-model"))

    assert first.output == second.output == {"answer": "4"}
    assert server.kinds() == ["json_schema", "json_object", "json_object", None, None]
    assert no_sleep.waits == []
    system = server.requests[-1]["messages"][0]
    assert system["role"] == "system"
    assert system["content"].startswith("Reply with one JSON object and nothing else")
    assert backend.formats.known(server.url, with_tools=False) is Mode.PROMPT


@pytest.mark.parametrize("refuse", [frozenset({"json_schema"})])
async def test_what_a_server_accepts_is_remembered_per_server_and_tools(
    backend: OpenAIBackend, server: FakeOpenAIServer
) -> None:
    await backend.complete(make_request(model="m"))
    assert backend.formats.known(server.url, with_tools=True) is None
    asked = await backend.complete(make_tool_request(model="m"))
    assert len(asked.tool_calls) == 2
    assert server.kinds() == ["json_schema", "json_object", "json_schema", "json_object"]
    assert backend.formats.known(server.url, with_tools=True) is Mode.JSON_OBJECT_WITH_SCHEMA


async def test_logprobs_the_server_does_not_send_are_not_a_confidence(
    backend: OpenAIBackend, server: FakeOpenAIServer
) -> None:
    response = await backend.complete(make_request(model="m", options={"logprobs": True}))
    assert server.requests[0]["logprobs"] is True
    assert response.confidence is None
    assert response.confidence_source is None  # not LOGPROBS: none came
