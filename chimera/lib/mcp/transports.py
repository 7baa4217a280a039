"""Building an MCP ``Client`` for one configured server, as one tenant sees it.

A stdio server is started with the configured command, its ``env`` added to the SDK's
minimal inherited environment (a server never sees the worker's secrets unless they are
passed on explicitly), in ``cwd`` relative to swarm.yaml. A streamable-HTTP server gets its
``headers`` on an ``httpx2`` client chimera owns, with the configured timeouts.

The read stream is wrapped so the session learns the moment the server goes away (a
stdio server that exits, an HTTP stream that ends) instead of at the next failed call.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TextIO

import anyio
import httpx2
from mcp import Client, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import Implementation

from chimera.models.mcp_config import McpServerConfig, TenantMcpOverride

#: How long an HTTP response stream may stay silent when no tool call is slower: the SDK's
#: own default, since a server may hold a stream open between events.
HTTP_READ_TIMEOUT_S = 300.0

Streams = tuple[Any, Any]


@dataclass(frozen=True)
class ServerTarget:
    """Everything needed to connect to one server as one tenant.

    Attributes:
        server: the ``mcp_servers`` name.
        config: the server's configuration.
        override: the tenant's own env or headers, if it has any for this server.
        base_dir: the folder of swarm.yaml, which ``cwd`` is relative to.
    """

    server: str
    config: McpServerConfig
    override: TenantMcpOverride | None = None
    base_dir: Path = Path(".")

    @property
    def env(self) -> dict[str, str]:
        """The server's env with the tenant's merged over it."""
        return {**self.config.env, **(self.override.env if self.override else {})}

    @property
    def headers(self) -> dict[str, str]:
        """The server's headers with the tenant's merged over them."""
        return {**self.config.headers, **(self.override.headers if self.override else {})}

    @property
    def cwd(self) -> Path:
        """The stdio server's working directory."""
        return self.base_dir / self.config.cwd if self.config.cwd else self.base_dir


def connect(target: ServerTarget, on_closed: Callable[[], None]) -> Client:
    """An unopened ``Client`` for ``target``; ``on_closed`` runs when its stream ends."""
    config = target.config
    transport: AbstractAsyncContextManager[Streams]
    if config.command is not None:
        params = StdioServerParameters(
            command=config.command, args=list(config.args), env=target.env, cwd=target.cwd
        )
        transport = stdio_client(params, errlog=_errlog())
    else:
        assert config.url is not None  # the model allows only one of command and url
        slowest = max([config.call_timeout_for(tool) for tool in config.tool_settings] or [0.0])
        read_s = max(HTTP_READ_TIMEOUT_S, config.call_timeout_s, slowest) + 5.0
        transport = _http(config.url, target.headers, config.connect_timeout_s, read_s)
    return Client(
        _watched(transport, on_closed),
        client_info=Implementation(name="chimera", version=_version()),
        cache=None,  # the session keeps the tool listing itself
    )


@asynccontextmanager
async def _http(
    url: str, headers: dict[str, str], connect_s: float, read_s: float
) -> AsyncIterator[Streams]:
    timeout = httpx2.Timeout(connect_s, read=read_s)
    async with (
        httpx2.AsyncClient(headers=headers, timeout=timeout, follow_redirects=True) as http,
        streamable_http_client(url, http_client=http) as streams,
    ):
        yield streams


@asynccontextmanager
async def _watched(
    transport: AbstractAsyncContextManager[Streams], on_closed: Callable[[], None]
) -> AsyncIterator[Streams]:
    async with transport as (read, write):
        yield _WatchedReadStream(read, on_closed), write


class _WatchedReadStream:
    """A transport read stream that reports its end (the SDK's ``ReadStream`` protocol)."""

    def __init__(self, inner: Any, on_end: Callable[[], None]) -> None:
        self._inner = inner
        self._on_end = on_end

    @property
    def last_context(self) -> Any:
        """The sender's context of the last item, where the transport keeps one."""
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> Any:
        """The next message; calls ``on_end`` when the stream has ended."""
        try:
            return await self._inner.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._on_end()
            raise

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        """Close the underlying stream."""
        await self._inner.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _errlog() -> TextIO:
    """Where a stdio server's stderr goes.

    Ours, or the process's real one when ours is not a file (a test runner capturing
    output): the child needs a file descriptor.
    """
    try:
        sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return sys.__stderr__ or sys.stderr
    return sys.stderr


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("chimera-swarm")
    except PackageNotFoundError:  # pragma: no cover - a source checkout without metadata
        return "0"
