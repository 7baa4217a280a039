"""The ``openai`` LLM backend: any OpenAI-compatible ``/chat/completions`` endpoint.

One :class:`OpenAIBackend` serves every skill that names ``backend: openai``; it keeps one
``httpx.AsyncClient`` (a connection pool) for the process. Each call is one step of a
skill's conversation:

1. checks the request (a ``model`` is required; ``options`` are checked by name and type);
2. POSTs ``{base_url}/chat/completions`` with the conversation, the skill's tools and a
   structured-output format negotiated with that server
   (:mod:`chimera_swarm_openai.structured`);
3. retries 429 and 5xx answers in-process, honouring ``Retry-After``, a few times, but
   never an answer saying the request itself is invalid
   (:mod:`chimera_swarm_openai.refusals`);
4. returns the model's tool calls, or its final JSON object with where the confidence
   came from.

Whether the output matches the skill's schema is *not* checked here: the chimera Worker
validates every output and turns a mismatch into a retryable ``invalid_output`` failure.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from types import TracebackType
from typing import Any

import httpx

from chimera import BackendError, ErrorKind, LLMRequest, LLMResponse, get_logger
from chimera_swarm_openai.answer import read_answer
from chimera_swarm_openai.conversation import chat_messages, tool_choice, tool_definitions
from chimera_swarm_openai.exchange import Exchange, Refused, Sleep, Target
from chimera_swarm_openai.options import RequestOptions
from chimera_swarm_openai.settings import ENV_VARS, FALLBACK_API_KEY_VAR, OpenAISettings
from chimera_swarm_openai.structured import (
    FormatMemory,
    Mode,
    about_format,
    response_format,
    schema_instruction,
)

log = get_logger("chimera.openai")

#: Request fields this backend sets itself; ``extra_body`` cannot replace them.
_OWN_FIELDS = frozenset(
    {"model", "messages", "response_format", "tools", "tool_choice", "parallel_tool_calls"}
)
_SAMPLING = ("temperature", "max_tokens", "top_p", "seed")


def _user_agent() -> str:
    try:
        return f"chimera-swarm-openai/{version('chimera-swarm-openai')}"
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "chimera-swarm-openai"


class OpenAIBackend:
    """Answers chimera conversations through an OpenAI-compatible chat-completions API.

    Works with OpenAI itself and with servers that speak its API: vLLM, Ollama, the
    llama.cpp server, LiteLLM and others (point ``base_url`` at them).

    Args:
        settings: process-wide settings; :meth:`OpenAISettings.from_env` by default.
        transport: the httpx transport (tests pass ``httpx.MockTransport``).
        sleep: awaited between in-process retries (tests record the waits).
        rng: random source of the backoff jitter.
        environ: where ``api_key_env`` options are looked up; ``os.environ`` by default.
        formats: what each server was found to accept; a new, empty memory by default.
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
        formats: FormatMemory | None = None,
    ) -> None:
        self.settings = settings if settings is not None else OpenAISettings.from_env()
        self.formats = formats if formats is not None else FormatMemory()
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
        self._exchange = Exchange(self._client, self.settings, sleep, rng or random.Random())
        self._warned_no_logprobs: set[str] = set()

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
        """Send one step of the conversation and read the tool calls or the final JSON.

        Raises:
            BackendError: ``invalid_input`` for a missing model, bad options or a request
                the server refuses (401/403: check the API key) in every format it was
                tried in; ``rate_limit`` or ``backend`` when 429 or 5xx answers outlast
                the in-process retries (``retry_after_s`` set); ``timeout`` when the
                server does not answer in time; ``backend`` when it cannot be reached or
                sends no usable envelope; ``invalid_output`` when the model's text is not
                a JSON object or a tool call names no function.
        """
        if not request.model:
            raise BackendError(
                f"skill {request.skill!r} uses backend 'openai' but names no model: "
                "set `model:` in the skill file",
                ErrorKind.INVALID_INPUT,
            )
        options = RequestOptions.parse(request.options)
        target = self._target(options)
        with_tools = bool(request.tools)
        modes = self.formats.modes(target.base_url, with_tools, options.response_format)
        for position, mode in enumerate(modes):
            body = request_body(request, options, mode)
            answer = await self._exchange.post(target, body, request.skill)
            if isinstance(answer, Refused):
                if position + 1 < len(modes) and about_format(answer.detail):
                    log.info(
                        "openai.format_refused",
                        server=target.where,
                        refused=mode.value,
                        next=modes[position + 1].value,
                        status=answer.status,
                        detail=answer.detail,
                    )
                    continue
                raise BackendError(answer.message, ErrorKind.INVALID_INPUT)
            if options.response_format == "auto":
                self._remember(target, with_tools, mode)
            return self._read(answer, request, options, target)
        raise AssertionError("unreachable")  # pragma: no cover - the last mode returns or raises

    def _remember(self, target: Target, with_tools: bool, mode: Mode) -> None:
        if self.formats.known(target.base_url, with_tools) is not mode:
            self.formats.accepted(target.base_url, with_tools, mode)
            log.info(
                "openai.format_accepted", server=target.where, format=mode.value, tools=with_tools
            )

    def _read(
        self, payload: Any, request: LLMRequest, options: RequestOptions, target: Target
    ) -> LLMResponse:
        answer = read_answer(payload, request, options, self.settings.default_confidence)
        if answer.logprobs_missing and target.base_url not in self._warned_no_logprobs:
            # Said once per server: the confidence then comes from elsewhere, and its
            # confidence_source says so in every Result.
            self._warned_no_logprobs.add(target.base_url)
            log.warning(
                "openai.no_logprobs",
                server=target.where,
                skill=request.skill,
                hint="the server sent no token logprobs; confidence falls back to the "
                "model's own number or the skill's default_confidence",
            )
        return answer.response

    def _target(self, options: RequestOptions) -> Target:
        """Where this call goes, and the key for it.

        The process key goes only to the configured server: a skill whose ``base_url``
        points elsewhere sends the key from its ``api_key_env`` variable, or none.
        """
        base_url = options.base_url or self.settings.base_url
        url = httpx.URL(f"{base_url}/chat/completions")
        env = os.environ if self._environ is None else self._environ
        if options.api_key_env:
            key = env.get(options.api_key_env) or None
            return Target(base_url, url, key, options.api_key_env)
        configured = httpx.URL(self.settings.base_url)
        same_origin = (url.scheme, url.host, url.port) == (
            configured.scheme,
            configured.host,
            configured.port,
        )
        key_var = f"{ENV_VARS['api_key']} (or {FALLBACK_API_KEY_VAR})"
        return Target(base_url, url, self.settings.api_key if same_origin else None, key_var)


def request_body(request: LLMRequest, options: RequestOptions, mode: Mode) -> dict[str, Any]:
    """The chat-completions request for one step, asking for JSON the ``mode`` way."""
    body: dict[str, Any] = {
        key: value for key, value in (options.extra_body or {}).items() if key not in _OWN_FIELDS
    }
    instruction = schema_instruction(mode, request.output_schema, bool(request.tools))
    body.update(
        model=request.model,
        messages=chat_messages(request, [options.system or "", instruction or ""]),
    )
    fmt = response_format(mode, request.skill, request.output_schema)
    if fmt is not None:
        body["response_format"] = fmt
    if request.tools:
        body["tools"] = tool_definitions(request.tools)
        body["tool_choice"] = tool_choice(request, options.tool_choice)
        if options.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = options.parallel_tool_calls
    for key in _SAMPLING:
        value = getattr(options, key)
        if value is not None:
            body[key] = value
    if options.logprobs:
        body["logprobs"] = True
    return body
