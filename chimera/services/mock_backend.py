"""The built-in ``mock`` LLM backend: offline, deterministic, shaped by the output schema.

The made-up outputs come from :mod:`chimera.services.mock_output`, which also tells
``chimera validate`` which output schemas it cannot satisfy; :mod:`chimera.services.mock_plan`
makes the same outputs without walking the schema on every call.

Same skill and input give the same output and confidence every time, so the demo and the
tests are reproducible. Latency and failures can be simulated for benchmarks and retry
tests; those two are random on purpose (a failed call must be able to succeed on retry).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
from collections.abc import Mapping
from typing import Any

from pydantic_core import to_json

from chimera.models.config import MockConfig
from chimera.models.llm import ConfidenceSource, LLMRequest, LLMResponse
from chimera.models.result import ErrorKind, Usage
from chimera.models.trusted import trusted
from chimera.ports.llm import BackendError
from chimera.services.mock_plan import fast_output
from chimera.services.mock_script import MockScript, MockScriptError, render, tool_results

#: Derived confidences fall in [LOW, HIGH): wide enough to meet every Judge band.
_CONFIDENCE_LOW, _CONFIDENCE_HIGH = 0.3, 1.0


class MockBackend:
    """Answers from the skill's ``mock:`` block, or makes up an output valid for its schema.

    Args:
        settings: ``mock:`` block per skill name; skills not listed use the defaults.
    """

    name = "mock"

    def __init__(self, settings: Mapping[str, MockConfig] | None = None) -> None:
        self.settings = dict(settings or {})
        self._default = MockConfig()

    async def complete(self, request: LLMRequest) -> LLMResponse:
        """Return the deterministic answer for ``request``, after the simulated latency."""
        config = self.settings.get(request.skill)
        if config is None:
            config = self._default
        if config.crash_process:
            # A task that takes its worker down with it, every time (for poison-task tests).
            os._exit(137)
        latency = config.latency_ms
        if config.latency_jitter_ms:
            latency += random.uniform(0, config.latency_jitter_ms)
        if latency > 0:
            await asyncio.sleep(latency / 1000.0)
        if config.failure_rate and random.random() < config.failure_rate:
            raise BackendError("simulated backend failure", ErrorKind.BACKEND)
        prompt_tokens = _prompt_chars(request) // 4
        variables: dict[str, Any] = {}
        if config.tool_calls:
            # Templates see the input's fields and the input itself (only scripts render).
            variables = {**request.input, "input": request.input}
            try:
                calls = MockScript(config.tool_calls).calls(request.step, variables)
            except MockScriptError as exc:
                raise BackendError(str(exc), ErrorKind.INVALID_INPUT) from None
            if calls is not None:
                return LLMResponse(tool_calls=calls, usage=Usage(prompt_tokens=prompt_tokens))
            variables["tools"] = tool_results(request.messages)
        # The seed is needed only to make up an output or a confidence.
        made_up = config.output is None or config.confidence is None
        seed = _seed(request.skill, request.input) if made_up else ""
        if config.output is not None:
            try:
                output = render(config.output, variables) if config.tool_calls else config.output
            except MockScriptError as exc:
                raise BackendError(str(exc), ErrorKind.INVALID_INPUT) from None
        else:
            output = fast_output(request.output_schema, seed)
        confidence = config.confidence
        if confidence is None:
            fraction = int(seed[:8], 16) / 0xFFFFFFFF
            confidence = round(_CONFIDENCE_LOW + fraction * (_CONFIDENCE_HIGH - _CONFIDENCE_LOW), 4)
            confidence = min(confidence, 0.9999)
        usage = _usage(prompt_tokens, len(to_json(output)) // 4)
        fixed = config.confidence is not None
        source = ConfidenceSource.REPORTED if fixed else ConfidenceSource.MOCK
        return _response(output, confidence, source, usage)


#: Usage counts already built: a frozen model, so one instance serves every answer.
_usages: dict[tuple[int, int], Usage] = {}


def _usage(prompt_tokens: int, completion_tokens: int) -> Usage:
    key = (prompt_tokens, completion_tokens)
    usage = _usages.get(key)
    if usage is None:
        if len(_usages) >= 4096:
            _usages.clear()
        usage = _usages[key] = trusted(
            Usage, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
        )
    return usage


def _response(
    output: Any, confidence: float, source: ConfidenceSource, usage: Usage
) -> LLMResponse:
    # Built without validation: the output is generated for the schema or comes from
    # validated config, and the Worker checks it against the output schema anyway.
    return trusted(
        LLMResponse,
        output=output,
        tool_calls=[],
        confidence=confidence,
        confidence_source=source,
        usage=usage,
        model="mock",
        raw=None,
    )


def _prompt_chars(request: LLMRequest) -> int:
    # Rough token counts (about four bytes a token), enough for usage accounting demos.
    messages = request.messages
    if len(messages) == 1:  # the first step of every task: skip the generator
        return len(messages[0].content or "")
    return sum(len(m.content or "") for m in messages)


def _seed(skill: str, value: Any) -> str:
    # Keys sorted so that equal inputs give equal seeds whatever order they were written in;
    # pydantic_core's serializer is several times cheaper than json.dumps on this hot path.
    canonical = to_json([skill, _sorted(value)])
    return hashlib.blake2b(canonical, digest_size=16).hexdigest()


def _sorted(value: Any) -> Any:
    # Scalars are kept without a call each: most inputs are flat objects of strings.
    if isinstance(value, dict):
        return {
            key: _sorted(value[key]) if isinstance(value[key], dict | list) else value[key]
            for key in sorted(value)
        }
    if isinstance(value, list):
        return [_sorted(item) if isinstance(item, dict | list) else item for item in value]
    return value
