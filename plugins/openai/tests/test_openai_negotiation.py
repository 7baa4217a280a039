"""Structured-output negotiation, and which error answers are never worth retrying."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from chimera_swarm_openai.refusals import request_invalid
from chimera_swarm_openai.structured import Mode
from openai_fakes import BASE_URL, FakeServer, Sleeps, error, ok

from chimera import BackendError, ErrorKind
from chimera.testing import make_request, make_tool_request

# Bodies servers really send (or send in this shape) for a request they find invalid.
LLAMA_CPP_500 = {
    "error": {
        "code": 500,
        "message": 'response_format type must be one of "text" or "json_object", but got: '
        "json_schema",
        "type": "server_error",
    }
}
FASTAPI_DETAIL = {
    "detail": [
        {
            "type": "literal_error",
            "loc": ["body", "response_format", "type"],
            "msg": "Input should be 'text' or 'json_object'",
        }
    ]
}
PYDANTIC_MESSAGE = {
    "error": {
        "message": "1 validation error for CreateChatCompletionRequest\nresponse_format.type\n"
        "  Input should be 'text' or 'json_object'",
        "type": "internal_server_error",
    }
}
OPENAI_STYLE_500 = {"error": {"message": "bad request", "type": "invalid_request_error"}}
SCHEMA_CONVERSION = {
    "error": {
        "code": 400,
        "message": "JSON schema conversion failed:\nUnrecognized schema: {}",
        "type": "invalid_request_error",
    }
}


@pytest.mark.parametrize(
    ("status", "body", "invalid"),
    [
        (400, {"error": {"message": "model not found"}}, True),
        (404, "Not Found", True),
        (422, FASTAPI_DETAIL, True),
        (408, {"error": {"message": "request timeout"}}, False),
        (409, {"error": {"message": "conflict"}}, False),
        (429, {"error": {"message": "rate limited"}}, False),
        (500, LLAMA_CPP_500, True),
        (500, FASTAPI_DETAIL, True),
        (500, PYDANTIC_MESSAGE, True),
        (500, OPENAI_STYLE_500, True),
        (500, {"error": {"message": "tools param requires --jinja flag"}}, True),
        (500, {"error": {"message": "Invalid tool_choice: sometimes"}}, True),
        (500, "response_format json_schema is not supported", True),
        (500, {"error": {"message": "CUDA error: invalid argument", "type": "x"}}, False),
        (500, {"error": {"message": "timeout while building the response_format grammar"}}, False),
        (503, {"error": {"message": "Loading model", "type": "unavailable_error"}}, False),
        (502, "<html>Bad Gateway</html>", False),
        (500, None, False),
        (500, {"error": {"code": 500, "message": "", "type": "server_error"}}, False),
    ],
)
def test_which_answers_say_the_request_is_invalid(status: int, body: Any, invalid: bool) -> None:
    assert request_invalid(status, body) is invalid


def refused_500() -> httpx.Response:
    return httpx.Response(500, json=LLAMA_CPP_500)


def kinds(server: FakeServer) -> list[Any]:
    return [(body.get("response_format") or {}).get("type") for body in server.bodies]


async def test_the_reported_llama_server_answer_is_not_retried_but_degraded(
    make: Any, sleeps: Sleeps
) -> None:
    # The server of the bug report: json_schema refused with a 500 whose body is a
    # validation error; json_object works. One refusal, then the answer: no waiting.
    server = FakeServer(refused_500(), ok())
    response = await make(server, max_retries=2).complete(make_request())
    assert response.output == {"answer": "4"}
    assert kinds(server) == ["json_schema", "json_object"]
    assert server.bodies[1]["response_format"]["schema"] == make_request().output_schema
    assert sleeps.waits == []


async def test_the_accepted_format_is_remembered_so_only_the_first_call_pays(make: Any) -> None:
    server = FakeServer(refused_500(), ok())
    backend = make(server)
    for _ in range(3):
        await backend.complete(make_request())
    assert kinds(server) == ["json_schema", "json_object", "json_object", "json_object"]


async def test_each_step_down_is_taken_on_a_refusal_about_the_format(make: Any) -> None:
    server = FakeServer(
        refused_500(),
        error(400, "Unknown parameter: 'response_format.schema'."),
        httpx.Response(400, json=SCHEMA_CONVERSION),
        ok(),
    )
    backend = make(server)
    await backend.complete(make_request())
    assert kinds(server) == ["json_schema", "json_object", "json_object", None]
    assert "schema" in server.bodies[1]["response_format"]
    assert "schema" not in server.bodies[2]["response_format"]
    assert backend.formats.known(BASE_URL, with_tools=False) is Mode.PROMPT


async def test_a_refusal_not_about_the_format_fails_at_once_and_is_not_remembered(
    make: Any,
) -> None:
    server = FakeServer(error(404, "The model `gpt-5-mini` does not exist"), ok())
    backend = make(server)
    with pytest.raises(BackendError) as caught:
        await backend.complete(make_request())
    assert caught.value.kind is ErrorKind.INVALID_INPUT
    assert "check the base URL and the model name" in str(caught.value)
    assert len(server.requests) == 1
    assert backend.formats.known(BASE_URL, with_tools=False) is None


async def test_refused_in_every_format_is_invalid_input_and_nothing_is_remembered(
    make: Any,
) -> None:
    server = FakeServer(httpx.Response(400, json=SCHEMA_CONVERSION))
    backend = make(server)
    with pytest.raises(BackendError) as caught:
        await backend.complete(make_request())
    assert caught.value.kind is ErrorKind.INVALID_INPUT
    assert not caught.value.kind.retryable
    assert "JSON schema conversion failed" in str(caught.value)
    assert kinds(server) == ["json_schema", "json_object", "json_object", None]
    assert backend.formats.known(BASE_URL, with_tools=False) is None


@pytest.mark.parametrize(
    ("pinned", "sent"), [("json_schema", "json_schema"), ("json_object", "json_object")]
)
async def test_a_pinned_format_is_never_negotiated(make: Any, pinned: str, sent: str) -> None:
    server = FakeServer(refused_500())
    with pytest.raises(BackendError) as caught:
        await make(server).complete(make_request(options={"response_format": pinned}))
    assert caught.value.kind is ErrorKind.INVALID_INPUT
    assert kinds(server) == [sent]


async def test_with_and_without_tools_are_remembered_apart(make: Any) -> None:
    grammar = error(400, "Cannot use custom grammar constraints with tools.")

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body.get("tools") and body.get("response_format"):
            return grammar
        return ok()

    server = FakeServer(answer)
    backend = make(server)
    await backend.complete(make_tool_request())
    await backend.complete(make_request())
    assert kinds(server) == ["json_schema", "json_object", "json_object", None, "json_schema"]
    assert backend.formats.known(BASE_URL, with_tools=True) is Mode.PROMPT
    assert backend.formats.known(BASE_URL, with_tools=False) is Mode.JSON_SCHEMA


async def test_a_transient_5xx_is_still_retried_within_a_format(make: Any, sleeps: Sleeps) -> None:
    server = FakeServer(error(500, "CUDA error: out of memory"), ok())
    response = await make(server).complete(make_request())
    assert response.output == {"answer": "4"}
    assert kinds(server) == ["json_schema", "json_schema"]
    assert len(sleeps.waits) == 1
