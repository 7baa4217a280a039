"""Spans, metrics and DEBUG lines around the Worker's LLM and tool calls.

Kept apart from the agent loop so the loop reads as what it does. Each wrapper awaits the
call it is given inside its span (so a backend's own spans nest under ``chat``), then
counts it. With tracing, metrics and DEBUG all off, a wrapper costs a few attribute checks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from chimera.lib.logging import debug_enabled, get_logger
from chimera.models.llm import LLMRequest, LLMResponse, ToolCall
from chimera.ports.metrics import Metrics
from chimera.ports.tools import ToolBinding, ToolResult, ToolUnavailable
from chimera.services.worker.core import Failure
from chimera.telemetry import spans

log = get_logger("chimera.worker")

#: The ``model`` label of a call whose skill names no model and whose backend named none.
DEFAULT_MODEL = "default"


async def observed_call(
    call: Awaitable[LLMResponse | Failure],
    request: LLMRequest,
    provider: str,
    tenant: str,
    metrics: Metrics,
    clock: Callable[[], float],
) -> LLMResponse | Failure:
    """Await one backend call in a ``chat`` span; count, time and (DEBUG) log it."""
    began = clock()
    with spans.chat(request, provider) as span:
        answer = await call
        if span is not None:
            if isinstance(answer, Failure):
                spans.chat_done(span, None, answer.kind.value)
            else:
                spans.chat_done(span, answer)
    if metrics.enabled or debug_enabled():
        _count(answer, request, provider, tenant, metrics, clock() - began)
    return answer


def model_of(request: LLMRequest, response: LLMResponse | None) -> str:
    """The model a call is counted and priced under: the skill's, else the backend's."""
    if request.model:
        return request.model
    if response is not None and response.model:
        return response.model
    return DEFAULT_MODEL


def _count(
    answer: LLMResponse | Failure,
    request: LLMRequest,
    provider: str,
    tenant: str,
    metrics: Metrics,
    seconds: float,
) -> None:
    response = answer if isinstance(answer, LLMResponse) else None
    error = answer.kind.value if isinstance(answer, Failure) else None
    tokens_in = response.usage.prompt_tokens if response else 0
    tokens_out = response.usage.completion_tokens if response else 0
    model = model_of(request, response)
    metrics.llm_call(tenant, request.skill, provider, model, seconds, tokens_in, tokens_out, error)
    if debug_enabled():
        log.debug(
            "llm.call",
            tenant=tenant,
            skill=request.skill,
            provider=provider,
            model=model,
            step=request.step,
            attempt=request.attempt,
            duration_ms=round(seconds * 1000.0, 3),
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            answer="tool_calls" if response and response.tool_calls else "output",
            error=answer.message if isinstance(answer, Failure) else None,
        )


async def observed_tool(
    call: Awaitable[ToolResult],
    tool_call: ToolCall,
    binding: ToolBinding,
    metrics: Metrics,
    clock: Callable[[], float],
) -> ToolResult:
    """Await one tool call in an ``execute_tool`` span; count and time it."""
    began = clock()
    try:
        with spans.tool(tool_call, binding) as span:
            result = await call
            spans.tool_done(span, result)
    except ToolUnavailable:
        metrics.tool_call(binding.server, binding.tool, "unavailable", clock() - began)
        raise
    outcome = "error" if result.is_error else "ok"
    metrics.tool_call(binding.server, binding.tool, outcome, clock() - began)
    return result
