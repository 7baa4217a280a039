"""An in-memory :class:`~chimera.ports.tools.Toolbox` for tests of skills that use tools."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from chimera.models.llm import ToolSpec
from chimera.models.types import JsonValue
from chimera.ports.tools import ToolBinding, ToolResult, ToolUnavailable

ToolFunction = Callable[[dict[str, JsonValue]], ToolResult | Awaitable[ToolResult]]


@dataclass
class FakeToolbox:
    """Serves tools from Python functions, and records every call.

    Args:
        functions: ``{(server, tool): function(arguments) -> ToolResult}``; a function may
            be ``async`` and may raise :class:`ToolUnavailable` to act as a server that is down.
        specs: what :meth:`tools` lists per server (default: one spec per function).
    """

    functions: Mapping[tuple[str, str], ToolFunction]
    specs: Mapping[str, Sequence[ToolSpec]] | None = None
    calls: list[tuple[str, str, dict[str, JsonValue], str]] = field(default_factory=list)
    down: set[str] = field(default_factory=set)
    closed: bool = False

    async def tools(self, server: str, tenant: str | None = None) -> Sequence[ToolSpec]:
        """The tools of ``server``."""
        if server in self.down:
            raise ToolUnavailable(f"server {server!r} is down")
        if self.specs is not None:
            return list(self.specs.get(server, []))
        return [ToolSpec(name=tool) for (name, tool) in self.functions if name == server]

    async def call(
        self, binding: ToolBinding, arguments: dict[str, JsonValue], tenant: str
    ) -> ToolResult:
        """Call the function behind ``binding``; a server in ``down`` is unavailable."""
        self.calls.append((binding.server, binding.tool, dict(arguments), tenant))
        if binding.server in self.down:
            raise ToolUnavailable(f"server {binding.server!r} is down")
        function = self.functions.get((binding.server, binding.tool))
        if function is None:
            return ToolResult(f"unknown tool {binding.tool!r}", is_error=True)
        answer = function(arguments)
        if asyncio.iscoroutine(answer) or isinstance(answer, Awaitable):
            answer = await answer
        assert isinstance(answer, ToolResult)
        return answer

    async def aclose(self) -> None:
        """Remember that the toolbox was closed."""
        self.closed = True


def binding(
    server: str, tool: str, sensitive: bool = False, name: str | None = None
) -> ToolBinding:
    """A :class:`ToolBinding` whose model-facing name is ``name`` (default ``tool``)."""
    return ToolBinding(
        spec=ToolSpec(name=name or tool, description=f"{tool} on {server}"),
        server=server,
        tool=tool,
        sensitive=sensitive,
    )
