"""The tools port: what a skill's agent loop calls when the model asks for a tool.

The Worker knows tools only through this port. The MCP adapter implements it with one
client session per server per process; tests use :class:`chimera.testing.FakeToolbox`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from chimera.models.llm import ToolSpec
from chimera.models.types import JsonValue


class ToolUnavailable(Exception):
    """The tool's server is down, did not answer in time, or the session broke.

    Not the tool's own error (that goes back to the model as an error result): the task
    fails this attempt and is retried with backoff.
    """


@dataclass(frozen=True)
class ToolResult:
    """What a tool answered.

    Attributes:
        text: the result as text for the model (MCP text content joined).
        is_error: the tool reported an error; the model sees it and may try again.
        structured: the tool's structured result, if it gave one.
        duration_ms: how long the call took.
    """

    text: str
    is_error: bool = False
    structured: JsonValue = None
    duration_ms: float = 0.0


@dataclass(frozen=True)
class ToolBinding:
    """A tool a skill may call: the name the model sees, and where it lives.

    Attributes:
        spec: name, description and argument schema, as shown to the model.
        server: the ``mcp_servers`` entry that serves it.
        tool: the tool's name on that server.
        sensitive: a call waits for a human's approval before it runs.
        timeout_s: how long one call may take.
    """

    spec: ToolSpec
    server: str
    tool: str
    sensitive: bool = False
    timeout_s: float = 60.0


@runtime_checkable
class Toolbox(Protocol):
    """Calls tools on behalf of a tenant's tasks. Methods are ``async``."""

    async def tools(self, server: str, tenant: str | None = None) -> Sequence[ToolSpec]:
        """List the tools ``server`` offers (as configured for ``tenant``).

        Raises:
            ToolUnavailable: the server could not be reached.
        """
        ...

    async def call(
        self, binding: ToolBinding, arguments: dict[str, JsonValue], tenant: str
    ) -> ToolResult:
        """Call one tool and return its result (an error result is not an exception).

        Raises:
            ToolUnavailable: the server is down or did not answer within the timeout.
        """
        ...

    async def aclose(self) -> None:
        """Close every session this toolbox opened."""
        ...
