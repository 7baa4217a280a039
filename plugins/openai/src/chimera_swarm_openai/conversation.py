"""chimera's conversation in OpenAI's chat-completions shape, and tool calls back out of it.

Out: ``messages`` (system, user, assistant with ``tool_calls``, ``tool`` with
``tool_call_id``), ``tools`` (``type: function`` with the MCP input schema as
``parameters``) and ``tool_choice``. Back: the answer's ``tool_calls``, several at once
when the model calls tools in parallel, their arguments read from the JSON string OpenAI
sends them as.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from chimera import BackendError, ErrorKind, LLMRequest, Message, Role, ToolCall, ToolSpec

#: How much of arguments that could not be read is kept to show the model.
_RAW_ARGUMENTS_LIMIT = 10_000


def chat_messages(request: LLMRequest, system_parts: Sequence[str]) -> list[dict[str, Any]]:
    """The request's conversation as chat-completions ``messages``.

    ``system_parts`` (the ``system`` option, the schema instruction) and the leading
    system messages of the conversation become one system message: several local chat
    templates accept only one, and only at the start.
    """
    messages = list(request.messages)
    leading: list[str] = [part for part in system_parts if part]
    while messages and messages[0].role is Role.SYSTEM:
        leading.append(messages.pop(0).content or "")
    out: list[dict[str, Any]] = []
    if any(leading):
        out.append({"role": "system", "content": "\n\n".join(p for p in leading if p)})
    out.extend(_message(message) for message in messages)
    return out


def _message(message: Message) -> dict[str, Any]:
    if message.role is Role.TOOL:
        text = message.content or ""
        # OpenAI's tool message has no error flag; say it in the text the model reads
        # (unless the text already does, as the MCP SDK's "Error executing tool ..." does).
        if message.is_error and not text.lower().startswith("error"):
            text = f"Error: {text}"
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": text}
    if message.role is Role.ASSISTANT and message.tool_calls:
        return {
            "role": "assistant",
            # Some local chat templates fail on a null content; an empty one is accepted.
            "content": message.content or "",
            "tool_calls": [_call(call) for call in message.tool_calls],
        }
    return {"role": message.role.value, "content": message.content or ""}


def _call(call: ToolCall) -> dict[str, Any]:
    arguments = (
        call.raw_arguments
        if call.raw_arguments is not None
        else json.dumps(call.arguments, ensure_ascii=False, separators=(",", ":"))
    )
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": arguments},
    }


def tool_definitions(tools: Sequence[ToolSpec]) -> list[dict[str, Any]]:
    """The ``tools`` request field: one ``function`` per tool, its MCP input schema as is."""
    return [
        {
            "type": "function",
            "function": {
                "name": tool.name,
                "description": tool.description,
                "parameters": tool.input_schema,
            },
        }
        for tool in tools
    ]


def tool_choice(request: LLMRequest, option: str) -> str:
    """The ``tool_choice`` for this step.

    ``required`` holds only until a tool has answered: forced on every step, the model
    could never give its final answer.
    """
    if option == "required" and any(m.role is Role.TOOL for m in request.messages):
        return "auto"
    return option


def read_tool_calls(message: Mapping[str, Any], step: int) -> list[ToolCall]:
    """The tool calls of an assistant message (none: an empty list).

    A call without an id gets one (``call_<step>_<n>``), and a repeated id is made unique:
    the Worker matches results to calls by id. Arguments that are not a JSON object are
    kept as text with the reason, for the Worker to hand back to the model.

    Raises:
        BackendError: (``invalid_output``) a call names no function.
    """
    raw = message.get("tool_calls")
    if not isinstance(raw, list):
        return []
    calls: list[ToolCall] = []
    seen: set[str] = set()
    for index, entry in enumerate(raw):
        function = _function_of(entry)
        if function is None:
            raise BackendError(
                f"the model asked for tool call #{index + 1} without a function name",
                ErrorKind.INVALID_OUTPUT,
            )
        name, arguments_value = function
        call_id = entry.get("id")
        if not isinstance(call_id, str) or not call_id or call_id in seen:
            call_id = f"call_{step}_{index + 1}"
        seen.add(call_id)
        arguments, error, text = _arguments(arguments_value)
        calls.append(
            ToolCall(
                id=call_id,
                name=name,
                arguments=arguments,
                arguments_error=error,
                raw_arguments=text if error is not None else None,
            )
        )
    return calls


def _function_of(entry: Any) -> tuple[str, Any] | None:
    """``(name, arguments)`` of one ``tool_calls`` entry, or ``None`` if it names no function."""
    function = entry.get("function") if isinstance(entry, Mapping) else None
    if not isinstance(function, Mapping):
        return None
    name = function.get("name")
    if not isinstance(name, str) or not name:
        return None
    return name, function.get("arguments")


def _arguments(value: Any) -> tuple[dict[str, Any], str | None, str | None]:
    """``(arguments, why they could not be read, the text as written)``."""
    if isinstance(value, Mapping):  # some servers send an object rather than a string
        return dict(value), None, None
    if value is None or (isinstance(value, str) and not value.strip()):
        return {}, None, None  # a tool without parameters
    if not isinstance(value, str):
        return {}, f"the arguments are not a JSON object (got {type(value).__name__})", str(value)
    text = value[:_RAW_ARGUMENTS_LIMIT]
    try:
        parsed = json.loads(value, parse_constant=_reject_constant)
    except ValueError as exc:
        return {}, f"the arguments are not valid JSON: {exc}", text
    if not isinstance(parsed, dict):
        kind = "array" if isinstance(parsed, list) else type(parsed).__name__
        return {}, f"the arguments are a JSON {kind}, not an object", text
    return parsed, None, None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")
