"""Builders of valid chimera objects with sensible defaults, for plugin tests."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import timedelta
from typing import Any

from chimera.models.audit import AuditEvent, AuditEventType
from chimera.models.config import ResolvedJudge
from chimera.models.llm import LLMRequest, LLMResponse, Message, Role, ToolSpec
from chimera.models.result import Result, ResultStatus
from chimera.models.task import Task
from chimera.models.thresholds import Thresholds
from chimera.models.types import utc_now
from chimera.ports.judge import PolicyInput

#: The output schema the builders use unless told otherwise.
DEFAULT_OUTPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["answer"],
    "properties": {"answer": {"type": "string"}},
}


def make_task(**overrides: Any) -> Task:
    """A valid Task for tenant ``acme``, session ``s1``, skill ``answer``."""
    fields: dict[str, Any] = {
        "tenant": "acme",
        "session": "s1",
        "skill": "answer",
        "input": {"question": "What is 2 + 2?"},
    }
    fields.update(overrides)
    return Task(**fields)


def make_result(task: Task | None = None, **overrides: Any) -> Result:
    """A succeeded Result answering ``task`` (a new one by default) with confidence 0.9."""
    task = task or make_task()
    now = utc_now()
    fields: dict[str, Any] = {
        "task_id": task.id,
        "tenant": task.tenant,
        "session": task.session,
        "skill": task.skill,
        "attempt": task.attempt,
        "status": ResultStatus.SUCCEEDED,
        "output": {"answer": "4"},
        "confidence": 0.9,
        "worker": "test-worker",
        "trace_id": task.trace_id,
        "started_at": now,
        "finished_at": now + timedelta(milliseconds=5),
    }
    fields.update(overrides)
    return Result(**fields)


def make_policy_input(
    result: Result | None = None,
    task: Task | None = None,
    approve_at: float = 0.8,
    review_at: float = 0.5,
    on_deny: str = "deny",
    sensitive: bool = False,
    policy: str = "threshold",
    options: dict[str, Any] | None = None,
) -> PolicyInput:
    """What a Judge policy receives, with thresholds and options as given."""
    task = task or make_task()
    result = result or make_result(task)
    settings = ResolvedJudge(
        policy=policy,
        thresholds=Thresholds(approve_at=approve_at, review_at=review_at),
        on_deny=on_deny,
        options=options or {},
    )
    return PolicyInput(
        result=result,
        task=task,
        settings=settings,
        sensitive=sensitive,
        max_attempts=task.max_attempts,
    )


def make_request(**overrides: Any) -> LLMRequest:
    """An LLMRequest for the default output schema.

    ``prompt="..."`` is a shortcut for a conversation of one user message.
    """
    prompt = overrides.pop("prompt", 'What is 2 + 2? Reply as JSON: {"answer": "..."}')
    fields: dict[str, Any] = {
        "skill": "answer",
        "messages": [Message.user(prompt)],
        "output_schema": DEFAULT_OUTPUT_SCHEMA,
        "model": "test-model",
        "input": {"question": "What is 2 + 2?"},
    }
    fields.update(overrides)
    return LLMRequest(**fields)


#: The tools :func:`make_tool_request` offers: an order look-up and a stock check.
DEFAULT_TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        name="lookup_order",
        description="Find an order by its id; returns its status.",
        input_schema={
            "type": "object",
            "required": ["order_id"],
            "properties": {"order_id": {"type": "string"}},
        },
    ),
    ToolSpec(
        name="check_stock",
        description="How many of an item are in stock.",
        input_schema={
            "type": "object",
            "required": ["sku"],
            "properties": {"sku": {"type": "string"}},
        },
    ),
)


def make_tool_request(**overrides: Any) -> LLMRequest:
    """An LLMRequest offering :data:`DEFAULT_TOOLS`, asking about an order and a stock level."""
    fields: dict[str, Any] = {
        "prompt": (
            "Is order A-1 shipped, and is SKU-9 in stock? Use the tools, then reply as JSON: "
            '{"answer": "..."}'
        ),
        "tools": list(DEFAULT_TOOLS),
    }
    fields.update(overrides)
    return make_request(**fields)


def continue_with_tool_results(
    request: LLMRequest,
    response: LLMResponse,
    results: Mapping[str, str] | None = None,
    errors: Collection[str] = (),
) -> LLMRequest:
    """The next step of a conversation whose last answer asked for tool calls.

    Appends the assistant's tool calls from ``response`` and one ``tool`` message
    answering each, as the Worker does.

    Args:
        request: the step that was answered.
        response: the backend's answer, with ``tool_calls``.
        results: the text each call's tool returned, by call id (default ``"ok"``).
        errors: ids of calls whose tool failed; their message is marked ``is_error``.
    """
    messages = [
        *request.messages,
        Message(role=Role.ASSISTANT, content=response.raw, tool_calls=response.tool_calls),
    ]
    for call in response.tool_calls:
        failed = call.id in errors
        default = f"{call.name} failed: not found" if failed else "ok"
        text = (results or {}).get(call.id, default)
        messages.append(
            Message(
                role=Role.TOOL, content=text, tool_call_id=call.id, name=call.name, is_error=failed
            )
        )
    return request.model_copy(update={"messages": messages, "step": request.step + 1})


def make_event(kind: AuditEventType = AuditEventType.DECISION, **overrides: Any) -> AuditEvent:
    """An AuditEvent for tenant ``acme``."""
    fields: dict[str, Any] = {
        "type": kind,
        "tenant": "acme",
        "session": "s1",
        "task_id": make_task().id,
        "actor": "judge",
        "data": {"verdict": "approve"},
    }
    fields.update(overrides)
    return AuditEvent(**fields)


class RecordingSink:
    """An audit sink that keeps every event it is given; set ``fail`` to make it raise."""

    name = "recording"

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []
        self.fail = False

    async def write(self, events: Sequence[AuditEvent]) -> None:
        """Keep ``events``, or raise ``OSError`` when ``fail`` is set."""
        if self.fail:
            raise OSError("recording sink told to fail")
        self.events.extend(events)
