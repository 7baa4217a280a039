"""The spans of a task's way: send → process (Worker) → chat / execute_tool → Judge → commit.

Each helper checks the tracing switch once; while tracing is off it returns a shared
no-op (:data:`NO_SPAN`, or a no-op :class:`Sending` / :class:`JudgeSpans`) and the
``*_done`` helpers return at once when handed ``None``. Services call them around the
work they already do, so the instrumentation is a ``with`` line and a ``*_done`` line.

The trace of a task crosses processes in the ``traceparent`` field of every stream entry:
the Planner writes the context of its PRODUCER span, the Worker continues it in its
CONSUMER span and hands its own context on with the Result (:func:`carry`), and the Judge
continues that one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from types import TracebackType
from typing import Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from pydantic_core import to_json

from chimera.models.llm import LLMRequest, LLMResponse, Message, ToolCall
from chimera.models.result import Result
from chimera.models.task import Task
from chimera.ports.queue import Delivery
from chimera.ports.tools import ToolBinding, ToolResult
from chimera.telemetry import names
from chimera.telemetry.tracing import (
    extract,
    in_unsampled_trace,
    state,
    traceparent_of,
    unsampled,
)

T = TypeVar("T", Task, Result)

#: Longest content attribute (prompt, answer, tool I/O) recorded when capture is on.
MAX_CONTENT_CHARS = 16_384


class _NoSpan:
    """The shared stand-in while tracing is off: a context manager yielding ``None``."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, *_exc: object) -> None:
        return None


NO_SPAN = _NoSpan()


class _Unsampled:
    """The context of a dropped trace, current for the block: children make no spans."""

    __slots__ = ("_context", "_token")

    def __init__(self, context: otel_context.Context) -> None:
        self._context = context
        self._token: object = None

    def __enter__(self) -> None:
        self._token = otel_context.attach(self._context)

    def __exit__(self, *_exc: object) -> None:
        otel_context.detach(self._token)  # type: ignore[arg-type]


class _Current:
    """Makes ``span`` current for the block, then ends it; an escaping error marks it."""

    __slots__ = ("_token", "span")

    def __init__(self, span: Span) -> None:
        self.span = span
        self._token: object = None

    def __enter__(self) -> Span:
        self._token = otel_context.attach(trace.set_span_in_context(self.span))
        return self.span

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        if error is not None:
            failed(self.span, type(error).__name__, str(error))
            if isinstance(error, Exception):
                self.span.record_exception(error)
        otel_context.detach(self._token)  # type: ignore[arg-type]
        self.span.end()


def failed(span: Span | None, error_type: str, message: str | None = None) -> None:
    """Mark ``span`` as failed with ``error.type`` (a no-op for ``None``)."""
    if span is None:
        return
    span.set_attribute(names.ERROR_TYPE, error_type)
    span.set_status(Status(StatusCode.ERROR, message))


# -- the Planner: one PRODUCER span per task -------------------------------------------


class Sending:
    """PRODUCER spans for a batch of tasks entering their streams.

    Use as a context manager around the enqueue. While tracing is on, each task gets a
    span of its own (so each task is its own trace), the task is re-made with that trace's
    id, and :attr:`traceparents` holds what each stream entry must carry. Off, ``tasks``
    are the ones given and ``traceparents`` is ``None``.
    """

    def __init__(self, tasks: Sequence[Task]) -> None:
        self.tasks = list(tasks)
        self.traceparents: list[str | None] | None = None
        self._spans: list[tuple[int, Span]] = []

    def __enter__(self) -> Sending:
        tracer = state.tracer
        if tracer is None:
            return self
        adopted: list[Task] = []
        parents: list[str | None] = []
        for index, task in enumerate(self.tasks):
            span = tracer.start_span(
                names.SPAN_SEND_TASK, kind=SpanKind.PRODUCER, attributes=_send_attributes(task)
            )
            context = span.get_span_context()
            if span.is_recording():
                trace_id = f"{context.trace_id:032x}"
                adopted.append(task.model_copy(update={"trace_id": trace_id}))
                parents.append(traceparent_of(span))
                self._spans.append((index, span))
            else:
                # Dropped by the sampler: nothing will be exported, so the task keeps its
                # own trace id; the entry says "not sampled" so no later hop records it.
                adopted.append(task)
                parents.append(f"00-{task.trace_id}-{context.span_id:016x}-00")
        self.tasks, self.traceparents = adopted, parents
        return self

    def sent(self, entry_ids: Sequence[str]) -> None:
        """Record each task's stream entry id (``messaging.message.id``)."""
        for index, span in self._spans:
            if index < len(entry_ids):
                span.set_attribute(names.MESSAGING_MESSAGE_ID, entry_ids[index])

    def __exit__(
        self,
        _kind: type[BaseException] | None,
        error: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        for _, span in self._spans:
            if error is not None:
                failed(span, type(error).__name__, str(error))
            span.end()


# -- the Worker: one CONSUMER span per attempt, chat and tool spans inside -------------


def process_task(delivery: Delivery[Task], consumer: str) -> _Current | _Unsampled | _NoSpan:
    """The CONSUMER span of one attempt, continuing the entry's ``traceparent``.

    A trace dropped where it started (not sampled) stays dropped: no span is made, the
    block runs in that trace's context (so no call inside starts one either) and the
    entry's ``traceparent`` is what the next entry carries.
    """
    tracer = state.tracer
    if tracer is None:
        return NO_SPAN
    parent = extract(delivery.traceparent)
    if parent is not None and unsampled(delivery.traceparent):
        return _Unsampled(parent)
    span = tracer.start_span(
        names.SPAN_PROCESS_TASK,
        context=parent,
        kind=SpanKind.CONSUMER,
        attributes=consumer_attributes(delivery, "tasks", "workers", consumer),
    )
    if delivery.message is not None:
        span.set_attributes(task_attributes(delivery.message))
    return _Current(span)


def task_settled(span: Span | None, settlement: str, error_type: str | None = None) -> None:
    """Record what the attempt came to: ``publish``, ``retry`` or ``dead_letter``."""
    if span is None:
        return
    span.set_attribute(names.SETTLEMENT, settlement)
    if error_type is not None:
        failed(span, error_type)


def carry(delivery: Delivery[T], span: Span | None) -> Delivery[T]:
    """``delivery`` with ``span``'s context as the ``traceparent`` its next entry carries."""
    if span is None:
        return delivery
    return dataclasses.replace(delivery, traceparent=traceparent_of(span))


def chat(request: LLMRequest, provider: str) -> _Current | _NoSpan:
    """The CLIENT span of one LLM call (GenAI ``chat``)."""
    tracer = state.tracer
    if tracer is None or in_unsampled_trace():
        return NO_SPAN
    attributes: dict[str, Any] = {
        names.GEN_AI_OPERATION: names.GEN_AI_OPERATION_CHAT,
        names.GEN_AI_PROVIDER: provider,
        names.SKILL: request.skill,
        names.STEP: request.step,
    }
    if request.model:
        attributes[names.GEN_AI_REQUEST_MODEL] = request.model
    if state.capture_content:
        attributes[names.GEN_AI_INPUT_MESSAGES] = _messages_json(request.messages)
    span = tracer.start_span(
        names.chat_span_name(request.model), kind=SpanKind.CLIENT, attributes=attributes
    )
    return _Current(span)


def chat_done(
    span: Span | None, response: LLMResponse | None, error_type: str | None = None
) -> None:
    """Record the answer's model and token usage, or the failure's ``error.type``."""
    if span is None:
        return
    if response is None:
        failed(span, error_type or "error")
        return
    if response.model:
        span.set_attribute(names.GEN_AI_RESPONSE_MODEL, response.model)
    span.set_attribute(names.GEN_AI_INPUT_TOKENS, response.usage.prompt_tokens)
    span.set_attribute(names.GEN_AI_OUTPUT_TOKENS, response.usage.completion_tokens)
    if response.confidence_source is not None:
        span.set_attribute(names.CONFIDENCE_SOURCE, response.confidence_source.value)
    if state.capture_content:
        span.set_attribute(names.GEN_AI_OUTPUT_MESSAGES, _answer_json(response))


def tool(call: ToolCall, binding: ToolBinding) -> _Current | _NoSpan:
    """The span of one tool call (GenAI ``execute_tool``)."""
    tracer = state.tracer
    if tracer is None or in_unsampled_trace():
        return NO_SPAN
    attributes: dict[str, Any] = {
        names.GEN_AI_OPERATION: names.GEN_AI_OPERATION_TOOL,
        names.GEN_AI_TOOL_NAME: call.name,
        names.GEN_AI_TOOL_CALL_ID: call.id,
        names.GEN_AI_TOOL_TYPE: "function",
        names.TOOL_SERVER: binding.server,
    }
    if state.capture_content:
        attributes[names.GEN_AI_TOOL_ARGUMENTS] = _cut(to_json(call.arguments).decode())
    return _Current(tracer.start_span(names.tool_span_name(call.name), attributes=attributes))


def tool_done(span: Span | None, result: ToolResult) -> None:
    """Record a tool's own error (the model sees it) and, if captured, its result."""
    if span is None:
        return
    if result.is_error:
        failed(span, "tool_error", _cut(result.text, 500))
    if state.capture_content:
        span.set_attribute(names.GEN_AI_TOOL_RESULT, _cut(result.text))


# -- shared ------------------------------------------------------------------------------


def _send_attributes(task: Task) -> dict[str, Any]:
    return {
        names.MESSAGING_SYSTEM: names.MESSAGING_SYSTEM_REDIS,
        names.MESSAGING_OPERATION_TYPE: names.OPERATION_SEND,
        names.MESSAGING_OPERATION_NAME: names.OPERATION_SEND,
        names.MESSAGING_DESTINATION: names.stream_name(task.tenant, "tasks"),
        **task_attributes(task),
    }


def task_attributes(task: Task) -> dict[str, Any]:
    """The chimera attributes naming a task: tenant, session, id, skill, attempt."""
    return {
        names.TENANT: task.tenant,
        names.SESSION: task.session,
        names.TASK_ID: task.id,
        names.SKILL: task.skill,
        names.ATTEMPT: task.attempt,
    }


def consumer_attributes(
    delivery: Delivery[Any], stream: str, group: str, consumer: str
) -> dict[str, Any]:
    """The messaging attributes of a consumer processing one stream entry."""
    return {
        names.MESSAGING_SYSTEM: names.MESSAGING_SYSTEM_REDIS,
        names.MESSAGING_OPERATION_TYPE: names.OPERATION_PROCESS,
        names.MESSAGING_OPERATION_NAME: names.OPERATION_PROCESS,
        names.MESSAGING_DESTINATION: names.stream_name(delivery.tenant, stream),
        names.MESSAGING_CONSUMER_GROUP: group,
        names.MESSAGING_CLIENT_ID: consumer,
        names.MESSAGING_MESSAGE_ID: delivery.entry_id,
        names.MESSAGING_DELIVERY_COUNT: delivery.deliveries,
        names.TENANT: delivery.tenant,
    }


def _cut(text: str, limit: int = MAX_CONTENT_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + f"…[{len(text)} chars]"


def _messages_json(messages: Sequence[Message]) -> str:
    """The conversation in the GenAI conventions' shape: role and parts per message."""
    out = []
    for message in messages:
        parts: list[dict[str, Any]] = []
        if message.content is not None:
            kind = "tool_call_response" if message.tool_call_id else "text"
            part: dict[str, Any] = {"type": kind, "content": message.content}
            if message.tool_call_id:
                part["id"] = message.tool_call_id
            parts.append(part)
        parts.extend(
            {"type": "tool_call", "id": c.id, "name": c.name, "arguments": c.arguments}
            for c in message.tool_calls
        )
        out.append({"role": message.role.value, "parts": parts})
    return _cut(to_json(out).decode())


def _answer_json(response: LLMResponse) -> str:
    parts: list[dict[str, Any]] = []
    if response.output is not None:
        parts.append({"type": "text", "content": to_json(response.output).decode()})
    parts.extend(
        {"type": "tool_call", "id": c.id, "name": c.name, "arguments": c.arguments}
        for c in response.tool_calls
    )
    return _cut(to_json([{"role": "assistant", "parts": parts}]).decode())
