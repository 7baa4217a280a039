"""The ``openai`` LLM backend: any OpenAI-compatible ``/chat/completions`` endpoint.

One :class:`OpenAIBackend` serves every skill that names ``backend: openai``; it keeps one
``httpx.AsyncClient`` (a connection pool) for the process. Each call:

1. checks the request (a ``model`` is required; ``options`` are checked by name and type);
2. POSTs ``{base_url}/chat/completions`` with the prompt as the user message and the skill's
   output schema as ``response_format`` (``json_schema``, ``strict: false``);
3. retries 429 and 5xx answers in-process, honouring ``Retry-After``, a few times;
4. parses the message content as a JSON object and works out the confidence.

Whether the output matches the skill's schema is *not* checked here: the chimera Worker
validates every output and turns a mismatch into a retryable ``invalid_output`` failure.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from types import TracebackType
from typing import Any, Literal

import httpx
from pydantic import ValidationError

from chimera.lib.logging import get_logger
from chimera.models.llm import LLMRequest, LLMResponse
from chimera.models.result import ErrorKind, Usage
from chimera.models.types import JsonValue
from chimera.ports.llm import BackendError
from chimera_swarm_openai.parsing import (
    OutputError,
    logprob_confidence,
    message_text,
    parse_object,
    retry_after,
    schema_name,
    server_message,
    take_self_reported,
    token_count,
)
from chimera_swarm_openai.settings import ENV_VARS, FALLBACK_API_KEY_VAR, OpenAISettings

log = get_logger("chimera.openai")

#: Statuses worth another attempt: rate limits, server errors, and the two transient 4xx.
_RETRYABLE_4XX = frozenset({408, 409, 429})
#: Provider key shapes, masked in any server text we repeat (OpenAI echoes key fragments).
_KEY_SHAPE = re.compile(r"\b(sk|pk|rk)-[A-Za-z0-9_*.-]{4,}")
ResponseFormat = Literal["json_schema", "json_object", "none"]


def _user_agent() -> str:
    try:
        return f"chimera-swarm-openai/{version('chimera-swarm-openai')}"
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "chimera-swarm-openai"


@dataclass(frozen=True)
class RequestOptions:
    """A skill's ``options:`` for this backend, checked.

    Attributes:
        temperature: sampling temperature.
        max_tokens: cap on the answer's length in tokens.
        top_p: nucleus sampling.
        seed: best-effort determinism, where the server supports it.
        base_url: send this skill's calls to another server.
        api_key_env: environment variable holding the key for ``base_url``.
        confidence_field: the output field the model may report its confidence in.
        logprobs: ask for token logprobs and derive the confidence from them.
        system: a system message sent before the prompt.
        response_format: ``json_schema`` (default), ``json_object`` for servers without
            schema support, or ``none`` to send no ``response_format``.
        extra_body: further top-level request fields for a particular server.
    """

    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    seed: int | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    confidence_field: str = "confidence"
    logprobs: bool = False
    system: str | None = None
    response_format: ResponseFormat = "json_schema"
    extra_body: Mapping[str, JsonValue] | None = None

    @classmethod
    def parse(cls, options: Mapping[str, JsonValue]) -> RequestOptions:
        """Check ``options`` by name and type.

        Raises:
            BackendError: (``invalid_input``) naming every unknown or ill-typed option; a
                typo must fail loudly rather than be silently ignored.
        """
        problems: list[str] = []
        values: dict[str, Any] = {}
        for key, value in options.items():
            check = _OPTION_CHECKS.get(key)
            if check is None:
                problems.append(
                    f"unknown option {key!r} (known: {', '.join(sorted(_OPTION_CHECKS))})"
                )
                continue
            kind, valid = check
            if not valid(value):
                problems.append(f"option {key!r} must be {kind}, got {value!r}")
                continue
            values[key] = value
        if problems:
            raise BackendError("openai backend: " + "; ".join(problems), ErrorKind.INVALID_INPUT)
        if values.get("base_url") is not None:
            values["base_url"] = str(values["base_url"]).rstrip("/")
        return cls(**values)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


_OPTION_CHECKS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "temperature": ("a number", lambda v: v is None or _number(v)),
    "max_tokens": ("a positive whole number", lambda v: v is None or (_integer(v) and v > 0)),
    "top_p": ("a number", lambda v: v is None or _number(v)),
    "seed": ("a whole number", lambda v: v is None or _integer(v)),
    "base_url": (
        "an http:// or https:// URL",
        lambda v: v is None or (isinstance(v, str) and v.startswith(("http://", "https://"))),
    ),
    "api_key_env": ("an environment variable name", lambda v: v is None or _text(v)),
    "confidence_field": ("a field name", _text),
    "logprobs": ("true or false", lambda v: isinstance(v, bool)),
    "system": ("text", lambda v: v is None or isinstance(v, str)),
    "response_format": (
        "one of json_schema, json_object, none",
        lambda v: v in ("json_schema", "json_object", "none"),
    ),
    "extra_body": ("a mapping", lambda v: v is None or isinstance(v, dict)),
}


Sleep = Callable[[float], Awaitable[None]]


class OpenAIBackend:
    """Answers chimera prompts through an OpenAI-compatible chat-completions API.

    Works with OpenAI itself and with servers that speak its API: vLLM, Ollama, the
    llama.cpp server, LiteLLM and others (point ``base_url`` at them).

    Args:
        settings: process-wide settings; :meth:`OpenAISettings.from_env` by default.
        transport: the httpx transport (tests pass ``httpx.MockTransport``).
        sleep: awaited between in-process retries (tests record the waits).
        rng: random source of the backoff jitter.
        environ: where ``api_key_env`` options are looked up; ``os.environ`` by default.
    """

    name = "openai"

    def __init__(
        self,
        settings: OpenAISettings | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings if settings is not None else OpenAISettings.from_env()
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._environ = environ
        self._client = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(self.settings.timeout_s),
            limits=httpx.Limits(
                max_connections=self.settings.max_connections,
                max_keepalive_connections=self.settings.max_connections,
            ),
            headers={"User-Agent": _user_agent(), "Accept": "application/json"},
        )

    def __repr__(self) -> str:
        return f"OpenAIBackend(base_url={self.settings.base_url!r})"

    async def __aenter__(self) -> OpenAIBackend:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool. The backend cannot be used afterwards."""
        await self._client.aclose()

    async def complete(self, request: LLMRequest) -> LLMResponse:
        """Send ``request`` to the chat-completions endpoint and read the JSON answer.

        Raises:
            BackendError: ``invalid_input`` for a missing model, bad options or a 4xx
                answer (401/403: check the API key); ``rate_limit`` or ``backend`` when 429
                or 5xx answers outlast the in-process retries (``retry_after_s`` set);
                ``timeout`` when the server does not answer in time; ``backend`` when it
                cannot be reached or sends no usable envelope; ``invalid_output`` when the
                model's text is not a JSON object.
        """
        if not request.model:
            raise BackendError(
                f"skill {request.skill!r} uses backend 'openai' but names no model: "
                "set `model:` in the skill file",
                ErrorKind.INVALID_INPUT,
            )
        options = RequestOptions.parse(request.options)
        base_url = options.base_url or self.settings.base_url
        url = httpx.URL(f"{base_url}/chat/completions")
        api_key, key_var = self._credentials(options, url)
        body = _request_body(request, request.model, options)
        payload = await self._post(url, body, api_key, key_var, request)
        return self._response(payload, request, options)

    def _credentials(self, options: RequestOptions, url: httpx.URL) -> tuple[str | None, str]:
        """The key for ``url`` and the variable to name when it is refused.

        The process key goes only to the configured server: a skill whose ``base_url``
        points elsewhere sends the key from its ``api_key_env`` variable, or none.
        """
        env = os.environ if self._environ is None else self._environ
        if options.api_key_env:
            return env.get(options.api_key_env) or None, options.api_key_env
        configured = httpx.URL(self.settings.base_url)
        same_origin = (url.scheme, url.host, url.port) == (
            configured.scheme,
            configured.host,
            configured.port,
        )
        key_var = f"{ENV_VARS['api_key']} (or {FALLBACK_API_KEY_VAR})"
        return (self.settings.api_key if same_origin else None), key_var

    async def _post(
        self,
        url: httpx.URL,
        body: dict[str, Any],
        api_key: str | None,
        key_var: str,
        request: LLMRequest,
    ) -> Any:
        where = _where(url)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        tries = self.settings.max_retries + 1
        for attempt in range(1, tries + 1):
            try:
                response = await self._client.post(url, json=body, headers=headers)
            except httpx.TimeoutException as exc:
                raise BackendError(
                    f"{where} did not answer within {self.settings.timeout_s:g}s "
                    f"({type(exc).__name__})",
                    ErrorKind.TIMEOUT,
                ) from exc
            except httpx.UnsupportedProtocol as exc:
                raise BackendError(
                    f"{where} is not a usable URL: {exc}", ErrorKind.INVALID_INPUT
                ) from exc
            except httpx.TransportError as exc:
                raise BackendError(
                    f"could not reach {where}: {type(exc).__name__}: {exc}", ErrorKind.BACKEND
                ) from exc
            status = response.status_code
            if 200 <= status < 300:
                return _json_body(response, where)
            if status not in _RETRYABLE_4XX and status < 500:
                raise BackendError(
                    _refusal(response, where, key_var, api_key), ErrorKind.INVALID_INPUT
                )
            kind = ErrorKind.RATE_LIMIT if status == 429 else ErrorKind.BACKEND
            hint = retry_after(response.headers, datetime.now(UTC))
            wait = hint if hint is not None else self._backoff(attempt)
            what = "rate limited" if status == 429 else "failed"
            detail = _redact(server_message(_try_json(response)), api_key)[:300]
            message = f"{where} {what} (HTTP {status}){': ' + detail if detail else ''}"
            if attempt >= tries:
                raise BackendError(
                    f"{message}; gave up after {attempt} attempt(s); retry after {wait:.3g}s",
                    kind,
                    retry_after_s=wait,
                )
            if wait > self.settings.backoff_max_s:
                raise BackendError(
                    f"{message}; the server asks to wait {wait:.3g}s, longer than this "
                    f"backend waits in-process ({self.settings.backoff_max_s:g}s)",
                    kind,
                    retry_after_s=wait,
                )
            log.info(
                "openai.retry",
                skill=request.skill,
                model=request.model,
                status=status,
                attempt=attempt,
                wait_s=round(wait, 3),
                server=where,
            )
            await self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with "equal jitter": half fixed, half random, capped."""
        ceiling = min(
            self.settings.backoff_max_s, self.settings.backoff_base_s * 2.0 ** (attempt - 1)
        )
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def _response(self, payload: Any, request: LLMRequest, options: RequestOptions) -> LLMResponse:
        choices = payload.get("choices") if isinstance(payload, dict) else None
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise BackendError("the server's answer has no choices", ErrorKind.BACKEND)
        choice: dict[str, Any] = choices[0]
        message = choice.get("message")
        content = message_text(message)
        if content is None:
            refusal = message.get("refusal") if isinstance(message, dict) else None
            reason = (
                f"the model refused: {str(refusal)[:300]}"
                if refusal
                else "the answer has no text content"
            )
            raise BackendError(reason, ErrorKind.INVALID_OUTPUT)
        try:
            output = parse_object(content)
        except OutputError as exc:
            truncated = choice.get("finish_reason") == "length"
            note = " (cut short at max_tokens)" if truncated else ""
            raise BackendError(f"{exc}{note}", ErrorKind.INVALID_OUTPUT) from None
        self_reported = take_self_reported(output, options.confidence_field, request.output_schema)
        confidence = logprob_confidence(choice)
        if confidence is None:
            confidence = self_reported
        if confidence is None:
            confidence = self.settings.default_confidence
        usage = payload.get("usage")
        try:
            return LLMResponse(
                output=output,
                confidence=confidence,
                usage=Usage(
                    prompt_tokens=token_count(usage, "prompt_tokens"),
                    completion_tokens=token_count(usage, "completion_tokens"),
                ),
            )
        except ValidationError as exc:
            problems = "; ".join(error["msg"] for error in exc.errors())
            raise BackendError(
                f"the answer is not a usable output: {problems}", ErrorKind.INVALID_OUTPUT
            ) from None


def _request_body(request: LLMRequest, model: str, options: RequestOptions) -> dict[str, Any]:
    messages: list[dict[str, str]] = []
    if options.system:
        messages.append({"role": "system", "content": options.system})
    messages.append({"role": "user", "content": request.prompt})
    body: dict[str, Any] = dict(options.extra_body or {})
    body.update(model=model, messages=messages)
    if options.response_format == "json_schema":
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {
                "name": schema_name(request.skill),
                "schema": request.output_schema,
                # strict mode needs every property required and additionalProperties false;
                # chimera schemas need not be written that way, and the Worker validates.
                "strict": False,
            },
        }
    elif options.response_format == "json_object":
        body["response_format"] = {"type": "json_object"}
    for key in ("temperature", "max_tokens", "top_p", "seed"):
        value = getattr(options, key)
        if value is not None:
            body[key] = value
    if options.logprobs:
        body["logprobs"] = True
    return body


def _where(url: httpx.URL) -> str:
    """``url`` without credentials or query: safe to put in messages and logs."""
    port = f":{url.port}" if url.port else ""
    return f"{url.scheme}://{url.host}{port}{url.path}"


def _try_json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _json_body(response: httpx.Response, where: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise BackendError(
            f"{where} answered HTTP {response.status_code} with a body that is not JSON",
            ErrorKind.BACKEND,
        ) from None


def _refusal(response: httpx.Response, where: str, key_var: str, api_key: str | None) -> str:
    """Why a 4xx answer will not go away by retrying, without repeating any key."""
    status = response.status_code
    if status in (401, 403):
        word = "unauthorized" if status == 401 else "forbidden"
        return (
            f"{where} refused the request (HTTP {status} {word}): check {key_var}; "
            "retrying will not help"
        )
    detail = _redact(server_message(_try_json(response)) or response.text, api_key)[:300]
    hint = " (check the base URL and the model name)" if status == 404 else ""
    return f"{where} rejected the request (HTTP {status}){hint}: {detail or 'no detail'}"


def _redact(text: str, api_key: str | None) -> str:
    """``text`` with the key, and anything shaped like a provider key, masked."""
    if api_key:
        text = text.replace(api_key, "[REDACTED]")
    return _KEY_SHAPE.sub("[REDACTED]", text)
