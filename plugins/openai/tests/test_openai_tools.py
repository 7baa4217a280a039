"""Tool calling OpenAI's way: the conversation sent, the tool calls read back."""

from __future__ import annotations

from typing import Any

import pytest
from openai_fakes import FakeServer, completion, ok, tool_calls_answer

from chimera import BackendError, ErrorKind, Message, Role, ToolCall
from chimera.testing import make_request, make_tool_request

ORDER = ("call_1", "lookup_order", '{"order_id": "A-1"}')
STOCK = ("call_2", "check_stock", '{"sku": "SKU-9"}')


async def test_the_whole_conversation_and_the_tools_are_sent(make: Any) -> None:
    server = FakeServer(ok())
    conversation = [
        Message.system("You answer support questions."),
        Message.user("Is A-1 shipped?"),
        Message(
            role=Role.ASSISTANT,
            content="Let me look.",
            tool_calls=[ToolCall(id="call_1", name="lookup_order", arguments={"order_id": "A-1"})],
        ),
        Message(role=Role.TOOL, content="shipped", tool_call_id="call_1", name="lookup_order"),
        Message(
            role=Role.ASSISTANT,
            tool_calls=[ToolCall(id="call_2", name="check_stock", arguments={"sku": "é"})],
        ),
        Message(role=Role.TOOL, content="no such SKU", tool_call_id="call_2", is_error=True),
    ]
    request = make_tool_request(messages=conversation, options={"system": "Be brief."}, step=3)

    await make(server).complete(request)

    (body,) = server.bodies
    assert body["messages"] == [
        {"role": "system", "content": "Be brief.\n\nYou answer support questions."},
        {"role": "user", "content": "Is A-1 shipped?"},
        {
            "role": "assistant",
            "content": "Let me look.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "lookup_order", "arguments": '{"order_id":"A-1"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "shipped"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "check_stock", "arguments": '{"sku":"é"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_2", "content": "Error: no such SKU"},
    ]
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": tool.name,
                "description": tool.description,
                "parameters": tool.input_schema,
            },
        }
        for tool in request.tools
    ]
    assert body["tool_choice"] == "auto"
    assert "parallel_tool_calls" not in body


async def test_a_tool_error_is_said_once(make: Any) -> None:
    server = FakeServer(ok())
    conversation = [
        Message.user("Is A-1 shipped?"),
        Message(role=Role.ASSISTANT, tool_calls=[ToolCall(id="c", name="lookup_order")]),
        Message(role=Role.TOOL, content="Error executing: boom", tool_call_id="c", is_error=True),
    ]
    await make(server).complete(make_tool_request(messages=conversation))
    assert server.bodies[0]["messages"][-1]["content"] == "Error executing: boom"


async def test_a_request_without_tools_sends_no_tool_fields(make: Any) -> None:
    server = FakeServer(ok())
    await make(server).complete(make_request(options={"tool_choice": "required"}))
    (body,) = server.bodies
    assert not {"tools", "tool_choice", "parallel_tool_calls"} & set(body)


async def test_parallel_tool_calls_come_back_in_order_with_usage_and_model(make: Any) -> None:
    answer = tool_calls_answer(ORDER, STOCK, content="Checking both.")
    answer["model"] = "gpt-4o-2024-08-06"
    response = await make(FakeServer(ok(answer))).complete(make_tool_request())

    assert response.output is None
    assert response.tool_calls == [
        ToolCall(id="call_1", name="lookup_order", arguments={"order_id": "A-1"}),
        ToolCall(id="call_2", name="check_stock", arguments={"sku": "SKU-9"}),
    ]
    assert response.raw == "Checking both."
    assert response.model == "gpt-4o-2024-08-06"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (12, 5)
    assert response.confidence is None


async def test_calls_without_ids_or_with_repeated_ids_get_unique_ones(make: Any) -> None:
    answer = tool_calls_answer(("", "lookup_order", "{}"), ("x", "check_stock", "{}"))
    answer["choices"][0]["message"]["tool_calls"].append(
        {"id": "x", "type": "function", "function": {"name": "check_stock", "arguments": "{}"}}
    )
    response = await make(FakeServer(ok(answer))).complete(make_tool_request(step=4))
    assert [call.id for call in response.tool_calls] == ["call_4_1", "x", "call_4_3"]


@pytest.mark.parametrize(
    ("arguments", "parsed", "error"),
    [
        ('{"order_id": "A-1"', {}, "the arguments are not valid JSON"),
        ('["A-1"]', {}, "the arguments are a JSON array, not an object"),
        ('{"n": NaN}', {}, "the arguments are not valid JSON"),
        ("", {}, None),
        ({"order_id": "A-1"}, {"order_id": "A-1"}, None),
        (None, {}, None),
        (7, {}, "the arguments are not a JSON object (got int)"),
    ],
)
async def test_arguments_that_are_not_an_object_are_kept_with_the_reason(
    make: Any, arguments: Any, parsed: dict[str, Any], error: str | None
) -> None:
    answer = tool_calls_answer(ORDER)
    answer["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] = arguments
    (call,) = (await make(FakeServer(ok(answer))).complete(make_tool_request())).tool_calls
    assert call.arguments == parsed
    if error is None:
        assert (call.arguments_error, call.raw_arguments) == (None, None)
    else:
        assert call.arguments_error is not None
        assert call.arguments_error.startswith(error)
        assert call.raw_arguments == str(arguments)


async def test_unreadable_arguments_are_sent_back_as_the_model_wrote_them(make: Any) -> None:
    server = FakeServer(ok())
    broken = ToolCall(
        id="call_1",
        name="lookup_order",
        arguments_error="the arguments are not valid JSON",
        raw_arguments='{"order_id": "A-1"',
    )
    conversation = [
        Message.user("Is A-1 shipped?"),
        Message(role=Role.ASSISTANT, tool_calls=[broken]),
        Message(
            role=Role.TOOL,
            content="the arguments are not valid JSON",
            tool_call_id="call_1",
            is_error=True,
        ),
    ]
    await make(server).complete(make_tool_request(messages=conversation))
    sent = server.bodies[0]["messages"][1]["tool_calls"][0]["function"]["arguments"]
    assert sent == '{"order_id": "A-1"'


@pytest.mark.parametrize("entry", [{"id": "c"}, {"id": "c", "function": {"arguments": "{}"}}, 5])
async def test_a_call_naming_no_function_is_invalid_output(make: Any, entry: Any) -> None:
    message = {"role": "assistant", "content": None, "tool_calls": [entry]}
    server = FakeServer(ok(completion(message=message)))
    with pytest.raises(BackendError) as caught:
        await make(server).complete(make_tool_request())
    assert caught.value.kind is ErrorKind.INVALID_OUTPUT
    assert "tool call #1 without a function name" in str(caught.value)


async def test_required_tool_choice_holds_until_a_tool_has_answered(make: Any) -> None:
    server = FakeServer(ok(tool_calls_answer(ORDER)), ok())
    backend = make(server)
    request = make_tool_request(options={"tool_choice": "required", "parallel_tool_calls": True})
    asked = await backend.complete(request)
    follow_up = request.model_copy(
        update={
            "messages": [
                *request.messages,
                Message(role=Role.ASSISTANT, tool_calls=asked.tool_calls),
                Message(role=Role.TOOL, content="shipped", tool_call_id="call_1"),
            ]
        }
    )
    await backend.complete(follow_up)
    first, second = server.bodies
    assert (first["tool_choice"], second["tool_choice"]) == ("required", "auto")
    assert first["parallel_tool_calls"] is True


async def test_tool_choice_none_is_sent_as_is(make: Any) -> None:
    server = FakeServer(ok())
    await make(server).complete(make_tool_request(options={"tool_choice": "none"}))
    assert server.bodies[0]["tool_choice"] == "none"


async def test_with_tools_the_prompt_asks_for_json_only_in_the_final_answer(make: Any) -> None:
    server = FakeServer(ok())
    await make(server).complete(make_tool_request(options={"response_format": "none"}))
    system = server.bodies[0]["messages"][0]
    assert system["content"].startswith("When you give your final answer, reply with one JSON")
