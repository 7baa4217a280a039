"""The ``openai`` backend against a fake chat-completions server (httpx.MockTransport)."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from chimera_swarm_openai import make_backend
from chimera_swarm_openai.backend import OpenAIBackend
from chimera_swarm_openai.settings import OpenAISettings
from openai_fakes import (
    API_KEY,
    BASE_URL,
    URL,
    FakeServer,
    Sleeps,
    completion,
    error,
    ok,
    tool_calls_answer,
)

from chimera import BackendError, ConfidenceSource, ErrorKind, LLMBackend, LLMResponse
from chimera.testing import (
    BackendConformance,
    build_backend,
    installed_registry,
    make_request,
    run_cli,
)


async def failure(backend: OpenAIBackend, **request: Any) -> BackendError:
    with pytest.raises(BackendError) as caught:
        await backend.complete(make_request(**request))
    return caught.value


# -- success ------------------------------------------------------------------------------


async def test_success_sends_schema_model_messages_options_and_key(make: Any) -> None:
    server = FakeServer(ok())
    backend = make(server)

    response = await backend.complete(
        make_request(
            skill="answer.v2",
            model="gpt-4o-mini",
            options={"temperature": 0.2, "max_tokens": 200, "top_p": 0.9, "seed": 42},
        )
    )

    assert response == LLMResponse(
        output={"answer": "4"},
        confidence=None,
        usage={"prompt_tokens": 12, "completion_tokens": 5},
        model="test-model",
        raw='{"answer": "4"}',
    )
    (sent,) = server.requests
    assert sent.method == "POST"
    assert str(sent.url) == URL
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert sent.headers["content-type"] == "application/json"
    body = json.loads(sent.content)
    assert body == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": make_request().prompt}],
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": "answer_v2",
                "schema": make_request().output_schema,
                "strict": False,
            },
        },
        "temperature": 0.2,
        "max_tokens": 200,
        "top_p": 0.9,
        "seed": 42,
    }


async def test_no_key_configured_sends_no_authorization_header(make: Any) -> None:
    server = FakeServer(ok())
    await make(server, api_key=None).complete(make_request())
    assert "authorization" not in server.requests[0].headers


async def test_system_message_and_alternative_response_formats(make: Any) -> None:
    server = FakeServer(ok())
    backend = make(server)
    await backend.complete(
        make_request(options={"system": "Answer in JSON.", "response_format": "json_object"})
    )
    await backend.complete(make_request(options={"response_format": "none"}))
    first, second = server.bodies
    schema = json.dumps(make_request().output_schema, separators=(",", ":"))
    system = first["messages"][0]
    assert system["role"] == "system"
    assert system["content"].startswith("Answer in JSON.\n\nReply with one JSON object")
    assert system["content"].endswith(schema)  # the server does not enforce it: the prompt says it
    assert first["response_format"] == {"type": "json_object"}
    assert "response_format" not in second
    assert second["messages"][0]["content"].endswith(schema)


async def test_extra_body_is_sent_but_cannot_override_core_fields(make: Any) -> None:
    server = FakeServer(ok())
    extra = {"guided_decoding_backend": "xgrammar", "model": "x", "response_format": {"t": 1}}
    await make(server).complete(
        make_request(options={"extra_body": extra, "response_format": "none"})
    )
    (body,) = server.bodies
    assert body["guided_decoding_backend"] == "xgrammar"
    assert body["model"] == "test-model"
    assert "response_format" not in body


async def test_usage_is_recorded_and_missing_usage_counts_zero(make: Any) -> None:
    usage = {"prompt_tokens": 321, "completion_tokens": 54, "total_tokens": 375}
    server = FakeServer(ok(completion(usage=usage)))
    response = await make(server).complete(make_request())
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (321, 54)

    body = completion()
    del body["usage"]
    response = await make(FakeServer(ok(body))).complete(make_request())
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (0, 0)


# -- confidence ---------------------------------------------------------------------------


async def test_confidence_from_logprobs_is_exp_of_mean_logprob(make: Any) -> None:
    logprobs = [-0.1, -0.2, -0.3, 0.0]
    server = FakeServer(ok(completion('{"answer": "4", "confidence": 0.1}', logprobs=logprobs)))

    response = await make(server).complete(make_request(options={"logprobs": True}))

    assert server.bodies[0]["logprobs"] is True
    assert response.confidence == pytest.approx(math.exp(-0.15))
    assert response.confidence_source is ConfidenceSource.LOGPROBS
    # logprobs win over the self-reported number, which is still taken out of the answer.
    assert response.output == {"answer": "4"}


async def test_logprob_confidence_is_clamped_to_one(make: Any) -> None:
    server = FakeServer(ok(completion(logprobs=[0.01, 0.02])))
    response = await make(server).complete(make_request(options={"logprobs": True}))
    assert response.confidence == 1.0


async def test_logprobs_are_not_requested_unless_asked(make: Any) -> None:
    server = FakeServer(ok())
    await make(server).complete(make_request())
    assert "logprobs" not in server.bodies[0]


async def test_self_reported_confidence_is_popped_from_the_output(make: Any) -> None:
    server = FakeServer(ok(completion('{"answer": "4", "confidence": 0.83}')))
    response = await make(server).complete(make_request())
    assert response.confidence == pytest.approx(0.83)
    assert response.confidence_source is ConfidenceSource.REPORTED
    assert response.output == {"answer": "4"}


async def test_self_reported_confidence_under_a_custom_field_name(make: Any) -> None:
    server = FakeServer(ok(completion('{"answer": "4", "certainty": 1, "confidence": 0.2}')))
    response = await make(server).complete(make_request(options={"confidence_field": "certainty"}))
    assert response.confidence == 1.0
    assert response.output == {"answer": "4", "confidence": 0.2}


async def test_self_reported_confidence_declared_by_the_schema_stays_in_the_output(
    make: Any,
) -> None:
    schema = {
        "type": "object",
        "required": ["answer", "confidence"],
        "properties": {"answer": {"type": "string"}, "confidence": {"type": "number"}},
    }
    server = FakeServer(ok(completion('{"answer": "4", "confidence": 0.7}')))
    response = await make(server).complete(make_request(output_schema=schema))
    assert response.confidence == pytest.approx(0.7)
    assert response.output == {"answer": "4", "confidence": 0.7}


@pytest.mark.parametrize("reported", ['"high"', "1.5", "-0.1", "true", "null"])
async def test_unusable_self_reported_confidence_is_ignored_and_left_in_place(
    make: Any, reported: str
) -> None:
    server = FakeServer(ok(completion(f'{{"answer": "4", "confidence": {reported}}}')))
    response = await make(server, default_confidence=0.4).complete(make_request())
    assert response.confidence == 0.4
    assert response.output == {"answer": "4", "confidence": json.loads(reported)}


async def test_default_confidence_when_the_answer_carries_none(make: Any) -> None:
    response = await make(FakeServer(ok()), default_confidence=0.65).complete(make_request())
    assert response.confidence == 0.65
    assert response.confidence_source is ConfidenceSource.DEFAULT


async def test_no_default_confidence_leaves_it_to_the_skill(make: Any) -> None:
    response = await make(FakeServer(ok())).complete(make_request())
    assert response.confidence is None
    assert response.confidence_source is None  # the Worker applies the skill's default


async def test_logprobs_asked_for_but_not_sent_do_not_pass_for_a_real_confidence(
    make: Any,
) -> None:
    server = FakeServer(ok(completion('{"answer": "4", "confidence": 0.7}')), ok())
    backend = make(server)
    reported = await backend.complete(make_request(options={"logprobs": True}))
    assert (reported.confidence, reported.confidence_source) == (0.7, ConfidenceSource.REPORTED)
    nothing = await backend.complete(make_request(options={"logprobs": True}))
    assert (nothing.confidence, nothing.confidence_source) == (None, None)


# -- output parsing -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        '```json\n{"answer": "4"}\n```',
        '```\n{"answer": "4"}\n```',
        '  \n```JSON\n{"answer": "4"}```  ',
        'Here you are:\n```json\n{"answer": "4"}\n```\nAnything else?',
    ],
)
async def test_fenced_json_is_accepted(make: Any, content: str) -> None:
    response = await make(FakeServer(ok(completion(content)))).complete(make_request())
    assert response.output == {"answer": "4"}


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ('{"answer": "4"', "not valid JSON"),
        ("The answer is 4.", "not valid JSON"),
        ('["4"]', "JSON array, not an object"),
        ('"4"', "JSON string, not an object"),
        ('{"answer": NaN}', "not valid JSON"),
        ("", "not valid JSON"),
    ],
)
async def test_malformed_or_non_object_content_is_invalid_output(
    make: Any, content: str, words: str
) -> None:
    err = await failure(make(FakeServer(ok(completion(content)))))
    assert err.kind is ErrorKind.INVALID_OUTPUT
    assert err.kind.retryable
    assert words in str(err)


async def test_truncated_answer_says_so(make: Any) -> None:
    server = FakeServer(ok(completion('{"answer": "fo', finish_reason="length")))
    err = await failure(make(server))
    assert err.kind is ErrorKind.INVALID_OUTPUT
    assert "max_tokens" in str(err)


async def test_refusal_without_content_is_invalid_output(make: Any) -> None:
    message = {"role": "assistant", "content": None, "refusal": "I can't help with that."}
    err = await failure(make(FakeServer(ok(completion(message=message)))))
    assert err.kind is ErrorKind.INVALID_OUTPUT
    assert "refused: I can't help with that." in str(err)


async def test_content_given_as_text_parts_is_joined(make: Any) -> None:
    message = {
        "role": "assistant",
        "content": [{"type": "text", "text": '{"answer": '}, {"type": "text", "text": '"4"}'}],
    }
    response = await make(FakeServer(ok(completion(message=message)))).complete(make_request())
    assert response.output == {"answer": "4"}


async def test_output_breaking_the_schema_is_returned_unchanged(make: Any) -> None:
    # The Worker validates against the skill's output schema (and retries as
    # invalid_output); the backend must not hide or "repair" what the model said.
    content = '{"answer": 4, "extra": [1, 2]}'
    response = await make(FakeServer(ok(completion(content)))).complete(make_request())
    assert response.output == {"answer": 4, "extra": [1, 2]}


@pytest.mark.parametrize(
    "body",
    [{"choices": []}, {"error": "nope"}, ["not", "an", "object"], {"choices": ["x"]}],
)
async def test_envelope_without_choices_is_a_backend_error(make: Any, body: Any) -> None:
    err = await failure(make(FakeServer(httpx.Response(200, json=body))))
    assert err.kind is ErrorKind.BACKEND
    assert "no choices" in str(err)


async def test_non_json_success_body_is_a_backend_error(make: Any) -> None:
    err = await failure(make(FakeServer(httpx.Response(200, text="<html>proxy</html>"))))
    assert err.kind is ErrorKind.BACKEND
    assert "not JSON" in str(err)


async def test_oversized_output_is_invalid_output(make: Any) -> None:
    content = json.dumps({"answer": "x" * 300_000})
    err = await failure(make(FakeServer(ok(completion(content)))))
    assert err.kind is ErrorKind.INVALID_OUTPUT
    assert "payload is" in str(err)


# -- errors and retries -------------------------------------------------------------------


@pytest.mark.parametrize(("status", "word"), [(401, "unauthorized"), (403, "forbidden")])
async def test_auth_failure_is_not_retried_and_never_shows_the_key(
    make: Any, sleeps: Sleeps, status: int, word: str
) -> None:
    server = FakeServer(error(status, f"Incorrect API key provided: {API_KEY}"))
    err = await failure(make(server))
    assert err.kind is ErrorKind.INVALID_INPUT
    assert not err.kind.retryable
    assert f"HTTP {status} {word}" in str(err)
    assert "check CHIMERA_OPENAI_API_KEY" in str(err)
    assert API_KEY not in str(err)
    assert "SECRET" not in repr(err.args)
    assert len(server.requests) == 1
    assert sleeps.waits == []


@pytest.mark.parametrize("status", [400, 404, 422])
async def test_other_client_errors_are_invalid_input_with_the_server_reason(
    make: Any, status: int
) -> None:
    server = FakeServer(error(status, f"model 'nope' not found (key {API_KEY})"))
    err = await failure(make(server))
    assert err.kind is ErrorKind.INVALID_INPUT
    assert f"HTTP {status}" in str(err)
    assert "model 'nope' not found" in str(err)
    assert API_KEY not in str(err)
    assert len(server.requests) == 1


async def test_429_with_retry_after_is_waited_for_then_succeeds(make: Any, sleeps: Sleeps) -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=5), usegmt=True)
    server = FakeServer(
        error(429, "slow down", **{"Retry-After": "2"}),
        error(429, "slow down", **{"retry-after-ms": "1500"}),
        error(503, "busy", **{"Retry-After": later}),
        ok(),
    )
    response = await make(server, max_retries=3).complete(make_request())

    assert response.output == {"answer": "4"}
    assert len(server.requests) == 4
    assert sleeps.waits[:2] == [2.0, 1.5]
    assert 3.0 < sleeps.waits[2] <= 5.0  # an HTTP date: whole seconds, counted from now


async def test_429_exhausted_is_rate_limit_with_retry_after(make: Any, sleeps: Sleeps) -> None:
    server = FakeServer(error(429, "Rate limit reached", **{"Retry-After": "3"}))
    err = await failure(make(server, max_retries=2))
    assert err.kind is ErrorKind.RATE_LIMIT
    assert err.retry_after_s == 3.0
    assert len(server.requests) == 3
    assert sleeps.waits == [3.0, 3.0]
    assert "HTTP 429" in str(err)
    assert "gave up after 3 attempt(s)" in str(err)


async def test_retry_after_longer_than_the_cap_is_left_to_the_worker(
    make: Any, sleeps: Sleeps
) -> None:
    server = FakeServer(error(429, "quota", **{"Retry-After": "120"}), ok())
    err = await failure(make(server, backoff_max_s=8.0))
    assert err.kind is ErrorKind.RATE_LIMIT
    assert err.retry_after_s == 120.0
    assert len(server.requests) == 1
    assert sleeps.waits == []


async def test_5xx_is_retried_with_capped_jittered_backoff_then_backend(
    make: Any, sleeps: Sleeps
) -> None:
    server = FakeServer(error(500, "internal"))
    err = await failure(make(server, max_retries=4, backoff_base_s=1.0, backoff_max_s=3.0))
    assert err.kind is ErrorKind.BACKEND
    assert err.kind.retryable
    assert len(server.requests) == 5
    # Equal jitter: between half and all of min(cap, base * 2**n).
    for wait, ceiling in zip(sleeps.waits, [1.0, 2.0, 3.0, 3.0], strict=True):
        assert ceiling / 2 <= wait <= ceiling
    assert err.retry_after_s is not None
    assert 1.5 <= err.retry_after_s <= 3.0
    assert "(HTTP 500): internal" in str(err)


async def test_5xx_then_success(make: Any, sleeps: Sleeps) -> None:
    server = FakeServer(error(502, "bad gateway"), httpx.Response(503, text="busy"), ok())
    response = await make(server).complete(make_request())
    assert response.output == {"answer": "4"}
    assert len(sleeps.waits) == 2


async def test_no_retries_configured_fails_on_the_first_429(make: Any, sleeps: Sleeps) -> None:
    server = FakeServer(error(429))
    err = await failure(make(server, max_retries=0))
    assert err.kind is ErrorKind.RATE_LIMIT
    assert err.retry_after_s is not None
    assert len(server.requests) == 1
    assert sleeps.waits == []


async def test_timeout_is_a_timeout(make: Any) -> None:
    request = httpx.Request("POST", URL)
    server = FakeServer(httpx.ReadTimeout("timed out", request=request))
    err = await failure(make(server, timeout_s=7))
    assert err.kind is ErrorKind.TIMEOUT
    assert "did not answer within 7s" in str(err)
    assert len(server.requests) == 1


async def test_connection_error_is_a_backend_error(make: Any) -> None:
    request = httpx.Request("POST", URL)
    server = FakeServer(httpx.ConnectError("connection refused", request=request))
    err = await failure(make(server))
    assert err.kind is ErrorKind.BACKEND
    assert "could not reach http://llm.test/v1/chat/completions" in str(err)


async def test_missing_model_is_invalid_input_and_sends_nothing(make: Any) -> None:
    server = FakeServer(ok())
    err = await failure(make(server), model=None)
    assert err.kind is ErrorKind.INVALID_INPUT
    assert "names no model" in str(err)
    assert server.requests == []


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"temprature": 0.2}, "unknown option 'temprature'"),
        ({"temperature": "hot"}, "option 'temperature' must be a number"),
        ({"max_tokens": 0}, "option 'max_tokens' must be a positive whole number"),
        ({"logprobs": "yes"}, "option 'logprobs' must be true or false"),
        ({"base_url": "llm.local"}, "option 'base_url' must be an http:// or https:// URL"),
        ({"response_format": "xml"}, "option 'response_format' must be one of"),
    ],
)
async def test_bad_options_are_invalid_input(make: Any, options: Any, words: str) -> None:
    server = FakeServer(ok())
    err = await failure(make(server), options=options)
    assert err.kind is ErrorKind.INVALID_INPUT
    assert words in str(err)
    assert server.requests == []


# -- base URL override and credentials ----------------------------------------------------


async def test_base_url_option_sends_elsewhere_without_the_process_key(make: Any) -> None:
    server = FakeServer(ok())
    await make(server).complete(make_request(options={"base_url": "http://gpu-box:8000/v1/"}))
    (sent,) = server.requests
    assert str(sent.url) == "http://gpu-box:8000/v1/chat/completions"
    assert "authorization" not in sent.headers


async def test_base_url_option_with_its_own_key_variable(sleeps: Sleeps) -> None:
    server = FakeServer(ok(), error(401))
    backend = OpenAIBackend(
        OpenAISettings(base_url=BASE_URL, api_key=API_KEY),
        transport=httpx.MockTransport(server),
        sleep=sleeps,
        environ={"VLLM_KEY": "vllm-secret"},
    )
    options = {"base_url": "http://gpu-box:8000/v1", "api_key_env": "VLLM_KEY"}
    async with backend:
        await backend.complete(make_request(options=options))
        assert server.requests[0].headers["authorization"] == "Bearer vllm-secret"
        with pytest.raises(BackendError) as caught:
            await backend.complete(make_request(options=options))
    assert "check VLLM_KEY" in str(caught.value)
    assert "vllm-secret" not in str(caught.value)


async def test_base_url_option_on_the_same_server_keeps_the_key(make: Any) -> None:
    server = FakeServer(ok())
    await make(server).complete(make_request(options={"base_url": "http://llm.test/v2"}))
    assert server.requests[0].headers["authorization"] == f"Bearer {API_KEY}"


# -- settings, lifecycle ------------------------------------------------------------------


def test_settings_from_the_environment() -> None:
    settings = OpenAISettings.from_env(
        {
            "CHIMERA_OPENAI_BASE_URL": "http://localhost:11434/v1/",
            "OPENAI_API_KEY": "sk-fallback-key-1234",
            "CHIMERA_OPENAI_TIMEOUT_S": "12.5",
            "CHIMERA_OPENAI_MAX_RETRIES": "5",
            "CHIMERA_OPENAI_DEFAULT_CONFIDENCE": "0.6",
        }
    )
    assert settings.base_url == "http://localhost:11434/v1"
    assert settings.api_key == "sk-fallback-key-1234"
    assert (settings.timeout_s, settings.max_retries, settings.default_confidence) == (12.5, 5, 0.6)
    assert "sk-fallback" not in repr(settings)


def test_settings_defaults_and_key_precedence() -> None:
    settings = OpenAISettings.from_env(
        {"CHIMERA_OPENAI_API_KEY": "sk-chimera-key-1234", "OPENAI_API_KEY": "sk-other-key-1234"}
    )
    assert settings.api_key == "sk-chimera-key-1234"
    assert settings.base_url == "https://api.openai.com/v1"
    assert settings.default_confidence is None
    assert OpenAISettings.from_env({}).api_key is None


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"CHIMERA_OPENAI_TIMEOUT_S": "soon"}, "CHIMERA_OPENAI_TIMEOUT_S must be a number"),
        ({"CHIMERA_OPENAI_MAX_RETRIES": "2.5"}, "CHIMERA_OPENAI_MAX_RETRIES must be a whole"),
        ({"CHIMERA_OPENAI_DEFAULT_CONFIDENCE": "2"}, "default_confidence must be in [0, 1]"),
        ({"CHIMERA_OPENAI_BASE_URL": "localhost:8000"}, "base_url must start with http"),
        ({"CHIMERA_OPENAI_TIMEOUT_S": "-1"}, "timeout_s must be a positive number"),
    ],
)
def test_bad_settings_name_the_problem(env: dict[str, str], words: str) -> None:
    with pytest.raises(ValueError, match="chimera-swarm-openai settings") as caught:
        OpenAISettings.from_env({**env, "CHIMERA_OPENAI_API_KEY": API_KEY})
    assert words in str(caught.value)
    assert API_KEY not in str(caught.value)


async def test_aclose_closes_the_pool() -> None:
    backend = OpenAIBackend(OpenAISettings(), transport=httpx.MockTransport(FakeServer(ok())))
    await backend.aclose()
    with pytest.raises(RuntimeError):
        await backend.complete(make_request())


async def test_backend_satisfies_the_port_and_hides_the_key() -> None:
    transport = httpx.MockTransport(FakeServer(ok()))
    async with OpenAIBackend(OpenAISettings(api_key=API_KEY), transport=transport) as backend:
        assert isinstance(backend, LLMBackend)
        assert backend.name == "openai"
        assert API_KEY not in repr(backend)
        assert API_KEY not in repr(backend.settings)


# -- plugin registration ------------------------------------------------------------------


def test_plugin_registers_the_backend_through_the_entry_point(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CHIMERA_OPENAI_BASE_URL", "http://localhost:8000/v1")
    monkeypatch.setenv("CHIMERA_OPENAI_MAX_RETRIES", "4")
    monkeypatch.setenv("CHIMERA_PLUGINS", "openai")  # only ours, whatever else is installed

    registry = installed_registry()

    assert "openai" in registry.backends
    assert registry.backends["openai"] is make_backend
    assert "openai" in registry.tool_backends
    info = next(p for p in registry.plugins if p.name == "openai")
    assert (info.version, info.builtin) == ("0.1.0", False)
    assert info.registers == {"backends": ["openai"]}
    backend = build_backend("openai")  # built and checked against the port, as chimera does
    assert isinstance(backend, OpenAIBackend)
    assert backend.settings.base_url == "http://localhost:8000/v1"
    assert backend.settings.max_retries == 4


def test_chimera_plugins_lists_the_distribution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHIMERA_PLUGINS", "openai")  # only ours, whatever else is installed
    result = run_cli("plugins", "--json")
    assert result.exit_code == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)["plugins"]}
    assert rows["openai"]["version"] == "0.1.0"
    assert rows["openai"]["backends"] == ["openai"]
    assert rows["openai"]["builtin"] is False


# -- conformance --------------------------------------------------------------------------


class TestOpenAIConformance(BackendConformance):
    @pytest.fixture
    async def backend(self, sleeps: Sleeps) -> AsyncIterator[OpenAIBackend]:
        def answer(request: httpx.Request) -> httpx.Response:
            body = json.loads(request.content)
            assert body["response_format"]["json_schema"]["schema"] == make_request().output_schema
            if body.get("tools") and body["messages"][-1]["role"] != "tool":
                return ok(
                    tool_calls_answer(
                        ("call_a", "lookup_order", '{"order_id": "A-1"}'),
                        ("call_b", "check_stock", '{"sku": "SKU-9"}'),
                    )
                )
            return ok(completion('```json\n{"answer": "4", "confidence": 0.9}\n```'))

        settings = OpenAISettings(base_url=BASE_URL)
        async with OpenAIBackend(
            settings, transport=httpx.MockTransport(answer), sleep=sleeps
        ) as backend:
            yield backend

    @pytest.fixture
    def backend_calls_tools(self) -> bool:
        return True
