"""The ``mock`` backend's scripted tool calls, and templates over the input and tool results.

A skill on the mock backend can play an agent offline: ``mock.tool_calls`` lists the calls
it makes step by step before its final answer. Argument strings are templates over the
task's input; strings of a fixed ``mock.output`` may also use ``tools.<name>``, the last
result of that tool (parsed as JSON when it is JSON). Everything is deterministic.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateError, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from chimera.models.config import MockToolCall
from chimera.models.llm import Message, Role, ToolCall
from chimera.models.types import JsonValue

#: A string that is one expression and nothing else passes the value itself.
_WHOLE = re.compile(r"^\{\{\s*(.+?)\s*\}\}$", re.DOTALL)

_ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


class MockScriptError(Exception):
    """A template of the mock's script could not be rendered for this task."""


def render(value: Any, variables: Mapping[str, Any]) -> Any:
    """Render every template string inside ``value`` (dicts and lists included)."""
    if isinstance(value, str):
        if "{{" not in value and "{%" not in value:
            return value
        try:
            whole = _WHOLE.match(value)
            if whole is not None:
                expression = _ENV.compile_expression(whole.group(1), undefined_to_none=False)
                result = expression(**variables)
                if isinstance(result, Undefined):
                    raise MockScriptError(f"mock template {value!r}: {result._undefined_message}")
                return _plain(result)
            return _ENV.from_string(value).render(**variables)
        except TemplateError as exc:
            raise MockScriptError(f"mock template {value!r}: {exc}") from None
    if isinstance(value, dict):
        return {key: render(item, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, variables) for item in value]
    return value


@dataclass(frozen=True)
class MockScript:
    """The tool calls a skill's mock makes, step by step."""

    steps: Sequence[Sequence[MockToolCall]]

    def calls(self, step: int, variables: Mapping[str, Any]) -> list[ToolCall] | None:
        """The calls of ``step`` (1-based), or ``None`` once the script is done."""
        if step > len(self.steps):
            return None
        return [
            ToolCall(
                id=f"mock_{step}_{index}",
                name=call.tool,
                arguments=render(call.arguments, variables),
            )
            for index, call in enumerate(self.steps[step - 1])
        ]


def tool_results(messages: Sequence[Message]) -> dict[str, JsonValue]:
    """The last result of each tool in the conversation, parsed as JSON where it is JSON."""
    names = {call.id: call.name for message in messages for call in message.tool_calls}
    results: dict[str, JsonValue] = {}
    for message in messages:
        if message.role is not Role.TOOL or message.tool_call_id is None:
            continue
        name = message.name or names.get(message.tool_call_id, message.tool_call_id)
        text = message.content or ""
        try:
            results[name] = json.loads(text)
        except ValueError:
            results[name] = text
    return results


def _plain(value: Any) -> Any:
    """Jinja hands back its own undefined and markup types; keep JSON values only."""
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)
