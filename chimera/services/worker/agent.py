"""A skill as an agent: a bounded loop of LLM steps and tool calls ending in a final answer.

The backend sees the conversation so far and the tools the skill may use, and answers
with tool calls or with the final output. Tool calls run concurrently through the
:class:`~chimera.ports.tools.Toolbox`; their results go back to the model as ``tool``
messages. A tool's own error is a result the model sees (it may try something else); a
tool server that is down or too slow fails the attempt, which is retried. A call to a
sensitive tool stops the loop: the conversation waits for a human's approval.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from pydantic_core import to_json

from chimera.lib.logging import redact_text
from chimera.models.llm import (
    ConfidenceSource,
    LLMRequest,
    LLMResponse,
    Message,
    PausedConversation,
    Role,
    ToolCall,
)
from chimera.models.result import ErrorKind, Usage
from chimera.models.types import JsonValue
from chimera.ports.llm import BackendError, LLMBackend
from chimera.ports.metrics import NO_METRICS, Metrics
from chimera.ports.tools import ToolBinding, Toolbox, ToolResult, ToolUnavailable
from chimera.services.worker.core import Answer, Failure
from chimera.services.worker.deadlines import Deadlines
from chimera.services.worker.observe import observed_call, observed_tool

#: Longest tool result handed back to the model; the rest is cut with a note.
MAX_TOOL_RESULT_CHARS = 64_000


@dataclass(frozen=True)
class ToolCallRecord:
    """One tool call as the task's history keeps it (the audit trail's ``tool_call``)."""

    call_id: str
    server: str
    tool: str
    arguments_digest: str
    duration_ms: float
    result_chars: int
    is_error: bool
    error: str | None = None


@dataclass(frozen=True)
class NeedsApproval:
    """The model asked for a sensitive tool: the loop stops until a human decides.

    ``messages`` is the conversation up to and including the assistant's tool calls;
    ``calls`` are the calls that wait (all calls of that step, so they run together).
    """

    messages: list[Message]
    calls: list[ToolCall]
    usage: Usage
    steps: int


@dataclass
class AgentRun:
    """What one attempt's loop did: its outcome and the calls it made on the way."""

    outcome: Answer | Failure | NeedsApproval
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    raw: str | None = None


@dataclass(frozen=True)
class AgentLimits:
    """Bounds of one attempt: steps (LLM calls) and seconds per backend call."""

    max_steps: int
    timeout_s: float
    default_confidence: float


async def run_agent(
    request: LLMRequest,
    backend: LLMBackend,
    limits: AgentLimits,
    tenant: str,
    tools: Mapping[str, ToolBinding] | None = None,
    toolbox: Toolbox | None = None,
    clock: Callable[[], float] = time.perf_counter,
    metrics: Metrics = NO_METRICS,
    resume: PausedConversation | None = None,
    deadlines: Deadlines | None = None,
) -> AgentRun:
    """Run the conversation in ``request`` to a final answer, a failure or a pause.

    Args:
        request: the first step (system/user messages, the tool definitions).
        backend: answers each step.
        limits: steps and per-call timeout.
        tenant: whose task this is (tool servers may be configured per tenant).
        tools: the skill's tools by the name the model sees.
        toolbox: runs the calls.
        clock: monotonic seconds, for the calls' durations.
        metrics: counts and times every LLM and tool call.
        resume: a conversation a human answered (its sensitive calls approved or refused):
            the loop goes on from there instead of from ``request``'s messages.
        deadlines: keeps the calls' time limits (a Worker shares one between its tasks);
            ``None``: ``asyncio.timeout`` per call.
    """
    run = AgentRun(outcome=Failure(ErrorKind.BACKEND, "no step ran"))
    tools = tools or {}
    messages = list(request.messages)
    usage = Usage()
    first = 1
    if resume is not None:
        replies = await _answer_paused(resume, tools, toolbox, tenant, clock, run, metrics)
        if isinstance(replies, Failure):
            run.outcome = replies
            return run
        messages = [*resume.messages, *replies]
        usage, first = resume.usage, resume.steps + 1
    for step in range(first, limits.max_steps + 1):
        current = (
            request
            if step == 1
            else request.model_copy(update={"messages": list(messages), "step": step})
        )
        response = await observed_call(
            _ask(backend, current, limits.timeout_s, deadlines),
            current,
            backend.name,
            tenant,
            metrics,
            clock,
        )
        if isinstance(response, Failure):
            run.outcome = response
            return run
        usage = _add(usage, response.usage)
        run.raw = response.raw
        if response.output is not None:
            confidence, source = _confidence(response, limits.default_confidence)
            run.outcome = Answer(response.output, confidence, source, usage, step)
            return run
        calls = response.tool_calls
        messages.append(Message(role=Role.ASSISTANT, tool_calls=calls, content=response.raw))
        # A call that cannot run (a made-up tool, arguments that are not a JSON object) is
        # answered with an error the model sees, and it may correct itself next step.
        refused: dict[str, ToolResult] = {}
        for call in calls:
            refusal = _refusal(call, tools)
            if refusal is not None:
                refused[call.id] = refusal
        runnable = [c for c in calls if c.id not in refused]
        if any(tools[c.name].sensitive for c in runnable):
            messages.extend(_tool_message(c, refused[c.id]) for c in calls if c.id in refused)
            run.outcome = NeedsApproval(messages, runnable, usage, step)
            return run
        answers = dict(refused)
        if runnable:
            if toolbox is None:
                run.outcome = Failure(ErrorKind.CONFIG, "the skill has tools but no toolbox")
                return run
            answered = await call_tools(runnable, tools, toolbox, tenant, clock, metrics)
            if isinstance(answered, Failure):
                run.outcome = answered
                return run
            for call, result, record in answered:
                run.tool_calls.append(record)
                answers[call.id] = result
        messages.extend(_tool_message(c, answers[c.id]) for c in calls)
    run.outcome = Failure(
        ErrorKind.MAX_STEPS, f"no final answer within max_steps={limits.max_steps}"
    )
    return run


async def call_tools(
    calls: Sequence[ToolCall],
    tools: Mapping[str, ToolBinding],
    toolbox: Toolbox,
    tenant: str,
    clock: Callable[[], float] = time.perf_counter,
    metrics: Metrics = NO_METRICS,
) -> list[tuple[ToolCall, ToolResult, ToolCallRecord]] | Failure:
    """Run ``calls`` concurrently; a server that is down fails them all (retryable)."""

    async def one(call: ToolCall) -> tuple[ToolCall, ToolResult, ToolCallRecord]:
        binding = tools[call.name]
        began = clock()
        result = await observed_tool(
            toolbox.call(binding, dict(call.arguments), tenant), call, binding, metrics, clock
        )
        duration = result.duration_ms or (clock() - began) * 1000.0
        record = ToolCallRecord(
            call_id=call.id,
            server=binding.server,
            tool=binding.tool,
            arguments_digest=digest(call.arguments),
            duration_ms=round(duration, 3),
            result_chars=len(result.text),
            is_error=result.is_error,
            error=redact_text(result.text)[:500] if result.is_error else None,
        )
        return call, result, record

    try:
        return list(await asyncio.gather(*(one(c) for c in calls)))
    except ToolUnavailable as exc:
        return Failure(ErrorKind.TOOL, f"tool server unavailable: {exc}")


def digest(arguments: Mapping[str, JsonValue]) -> str:
    """A short, stable digest of a call's arguments (the audit trail keeps no raw values)."""
    return hashlib.sha256(to_json(dict(sorted(arguments.items())))).hexdigest()[:16]


async def _ask(
    backend: LLMBackend, request: LLMRequest, timeout_s: float, deadlines: Deadlines | None
) -> LLMResponse | Failure:
    limit = deadlines.within(timeout_s) if deadlines is not None else asyncio.timeout(timeout_s)
    try:
        async with limit:
            return await backend.complete(request)
    except TimeoutError:
        return Failure(ErrorKind.TIMEOUT, f"backend took longer than {timeout_s}s")
    except BackendError as exc:
        return Failure(exc.kind, str(exc), exc.retry_after_s)
    except Exception as exc:  # a plugin's bug is a backend failure, not a worker crash
        return Failure(ErrorKind.BACKEND, f"{type(exc).__name__}: {exc}")


def _confidence(response: LLMResponse, default: float) -> tuple[float, ConfidenceSource]:
    if response.confidence is None:
        return default, ConfidenceSource.DEFAULT
    return response.confidence, response.confidence_source or ConfidenceSource.REPORTED


def _add(total: Usage, more: Usage) -> Usage:
    if not more.prompt_tokens and not more.completion_tokens:
        return total
    return Usage(
        prompt_tokens=total.prompt_tokens + more.prompt_tokens,
        completion_tokens=total.completion_tokens + more.completion_tokens,
    )


async def _answer_paused(
    paused: PausedConversation,
    tools: Mapping[str, ToolBinding],
    toolbox: Toolbox | None,
    tenant: str,
    clock: Callable[[], float],
    run: AgentRun,
    metrics: Metrics,
) -> list[Message] | Failure:
    """The tool messages that answer a paused step: the calls' results, or the refusal."""
    calls = paused.calls
    if not paused.approved:
        reason = f"a human refused this call: {paused.note or 'no reason given'}"
        return [_tool_message(c, ToolResult(reason, is_error=True)) for c in calls]
    missing = [c.name for c in calls if c.name not in tools]
    if missing:
        # Approved against a swarm that no longer offers the tool: the model is told so.
        return [_tool_message(c, _refusal(c, tools) or ToolResult("approved")) for c in calls]
    if toolbox is None:
        return Failure(ErrorKind.CONFIG, "the skill has tools but no toolbox")
    answered = await call_tools(calls, tools, toolbox, tenant, clock, metrics)
    if isinstance(answered, Failure):
        return answered
    run.tool_calls.extend(record for _, _, record in answered)
    return [_tool_message(call, result) for call, result, _ in answered]


def _refusal(call: ToolCall, tools: Mapping[str, ToolBinding]) -> ToolResult | None:
    """Why ``call`` cannot run, as the error result the model gets; ``None`` if it can."""
    if call.name not in tools:
        known = ", ".join(sorted(tools)) or "none"
        return ToolResult(f"no tool named {call.name!r} (tools: {known})", is_error=True)
    if call.arguments_error is not None:
        return ToolResult(f"arguments are not a JSON object: {call.arguments_error}", is_error=True)
    return None


def _tool_message(call: ToolCall, result: ToolResult) -> Message:
    text = result.text
    if len(text) > MAX_TOOL_RESULT_CHARS:
        text = text[:MAX_TOOL_RESULT_CHARS] + f"\n[cut: {len(result.text)} characters in all]"
    return Message(
        role=Role.TOOL, tool_call_id=call.id, name=call.name, content=text, is_error=result.is_error
    )
