"""One MCP server's client session in this process: opened lazily, shared, reopened after death.

The SDK's ``Client`` is an async context manager whose task groups belong to the task that
entered it, while tool calls come from every task in flight. So each open session has an
*owner* task that enters the client, lists the tools, then waits for a stop signal; callers
only send requests over it (JSON-RPC matches answers to concurrent requests by id).

Life cycle:

- the first ``tools()`` or ``call()`` starts the owner; callers arriving meanwhile wait on
  the same attempt (a server that is down costs one connect timeout, not one per task);
- when the server goes away (its read stream ends, or a call fails on the transport), the
  session is marked dead: calls in flight fail with :class:`ToolUnavailable` and the next
  call opens a new session;
- ``aclose()`` stops the owner, which closes the client (a stdio server is asked to exit,
  then terminated).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio
from mcp import Client, MCPError
from mcp_types import CONNECTION_CLOSED, INVALID_PARAMS, METHOD_NOT_FOUND, REQUEST_TIMEOUT

from chimera.lib.logging import get_logger
from chimera.lib.mcp.results import tool_result, tool_spec
from chimera.models.llm import ToolSpec
from chimera.models.types import JsonValue
from chimera.ports.tools import ToolResult, ToolUnavailable

log = get_logger("chimera.mcp")

#: Pages of ``tools/list`` followed before giving up on a server that never stops paging.
MAX_LIST_PAGES = 100

#: Errors the server returns for a call the model got wrong (unknown tool, bad arguments):
#: the model reads them and may correct itself, as with a tool's own error.
_MODEL_FIXABLE = frozenset({INVALID_PARAMS, METHOD_NOT_FOUND})

ClientFactory = Callable[[Callable[[], None]], Client]


@dataclass(eq=False)
class _Live:
    """One opened (or opening) session and its owner task."""

    ready: asyncio.Future[None]
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    client: Client | None = None
    tools: list[ToolSpec] = field(default_factory=list)
    dead: bool = False
    owner: asyncio.Task[None] | None = None

    def end(self) -> None:
        """Mark the session dead and let its owner close it."""
        self.dead = True
        self.stop.set()


class McpSession:
    """The session to one server, for one tenant variant, in this process.

    Args:
        label: names the server (and tenant) in messages and logs.
        factory: builds an unopened ``Client``; its argument is called when the stream ends.
        connect_timeout_s: seconds to open the session and list the tools.
    """

    def __init__(self, label: str, factory: ClientFactory, connect_timeout_s: float) -> None:
        self.label = label
        self._factory = factory
        self._connect_timeout_s = connect_timeout_s
        self._live: _Live | None = None
        self._closed = False
        #: Sessions opened so far (1 after the first use; more after restarts).
        self.opened = 0

    async def tools(self) -> list[ToolSpec]:
        """The server's tools, as listed when this session opened.

        Raises:
            ToolUnavailable: the server could not be started or reached in time.
        """
        live = await self._session()
        return list(live.tools)

    async def call(
        self, tool: str, arguments: dict[str, JsonValue], timeout_s: float
    ) -> ToolResult:
        """Call ``tool``; the tool's own error comes back as ``is_error``, not raised.

        Raises:
            ToolUnavailable: the server is down, the session broke, or no answer came
                within ``timeout_s``.
        """
        live = await self._session()
        client = live.client
        assert client is not None  # set before the session is marked ready
        started = time.perf_counter()
        try:
            result = await client.call_tool(tool, arguments, read_timeout_seconds=timeout_s)
        except MCPError as exc:
            return self._protocol_error(live, tool, exc, timeout_s, started)
        except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError, TimeoutError) as exc:
            live.end()
            raise ToolUnavailable(f"{self.label}: the connection failed: {_describe(exc)}") from exc
        except RuntimeError as exc:  # the SDK's check of a result against the output schema
            raise ToolUnavailable(f"{self.label}: tool {tool!r}: {exc}") from exc
        return tool_result(result, _ms_since(started))

    def _protocol_error(
        self, live: _Live, tool: str, exc: MCPError, timeout_s: float, started: float
    ) -> ToolResult:
        if exc.code in _MODEL_FIXABLE:
            message = f"error calling tool {tool!r}: {exc.error.message}"
            return ToolResult(text=message, is_error=True, duration_ms=_ms_since(started))
        if exc.code == REQUEST_TIMEOUT:
            # A slow tool is not a dead server: the session stays; the SDK told the server
            # to stop working on the call.
            raise ToolUnavailable(
                f"{self.label}: tool {tool!r} did not answer within {timeout_s:g}s"
            ) from exc
        if exc.code == CONNECTION_CLOSED:
            live.end()
            raise ToolUnavailable(f"{self.label}: the server closed the connection") from exc
        raise ToolUnavailable(
            f"{self.label}: tool {tool!r} failed: {exc.error.message} (code {exc.code})"
        ) from exc

    async def aclose(self) -> None:
        """Close the session (if open) and refuse new calls."""
        self._closed = True
        live, self._live = self._live, None
        if live is None:
            return
        live.end()
        if live.owner is not None:
            await live.owner

    async def _session(self) -> _Live:
        if self._closed:
            raise ToolUnavailable(f"{self.label}: the toolbox is closed")
        live = self._live
        if live is None or live.dead:
            live = self._live = self._start()
        # Shielded: a caller giving up (its own timeout) must not cancel the attempt others
        # are waiting for.
        await asyncio.shield(live.ready)
        return live

    def _start(self) -> _Live:
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # Every waiter may have gone: retrieve the outcome so asyncio does not warn about it.
        ready.add_done_callback(lambda f: None if f.cancelled() else f.exception())
        live = _Live(ready=ready)
        live.owner = asyncio.create_task(self._own(live), name=f"mcp-session {self.label}")
        return live

    async def _own(self, live: _Live) -> None:
        """Open the client, publish it, hold it until told to stop, then close it."""
        try:
            # The connect deadline cancels the whole scope from a timer: a deadline scope
            # around the enter alone would be exited while the client's task groups,
            # entered inside it, are still open.
            with anyio.CancelScope() as scope:
                deadline = asyncio.get_running_loop().call_later(
                    self._connect_timeout_s, scope.cancel
                )
                async with contextlib.AsyncExitStack() as stack:
                    client = await stack.enter_async_context(self._factory(live.end))
                    live.tools = await _list_tools(client)
                    deadline.cancel()
                    live.client = client
                    self.opened += 1
                    log.info("mcp.session_opened", server=self.label, tools=len(live.tools))
                    live.ready.set_result(None)
                    await live.stop.wait()
            if scope.cancelled_caught and not live.ready.done():
                self._failed(live, f"did not start within {self._connect_timeout_s:g}s", None)
        except Exception as exc:
            self._failed(live, _describe(exc), exc)
        finally:
            live.dead = True
            if not live.ready.done():
                live.ready.set_exception(ToolUnavailable(f"{self.label}: the session was closed"))
        log.info("mcp.session_closed", server=self.label)

    def _failed(self, live: _Live, reason: str, exc: BaseException | None) -> None:
        live.dead = True
        if not live.ready.done():
            failure = ToolUnavailable(f"{self.label}: cannot connect: {reason}")
            failure.__cause__ = exc
            live.ready.set_exception(failure)
        else:
            log.warning("mcp.session_failed", server=self.label, error=reason)


async def _list_tools(client: Client) -> list[ToolSpec]:
    specs: list[ToolSpec] = []
    cursor: str | None = None
    for _ in range(MAX_LIST_PAGES):
        page = await client.list_tools(cursor=cursor)
        specs.extend(tool_spec(tool) for tool in page.tools)
        cursor = page.next_cursor
        if cursor is None:
            break
    return specs


def _describe(exc: BaseException) -> str:
    """One line for an exception, looking inside exception groups for the first cause."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, MCPError):
        return f"{exc.error.message} (code {exc.code})"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
