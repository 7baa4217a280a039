"""The MCP toolbox: chimera's tools port over the MCP servers in swarm.yaml.

One session per server per worker process, shared by every task in flight. A tenant with
its own settings for a server (``tenants.<t>.mcp_servers``: its credentials) gets a session
of its own to that server; every other tenant shares the server's default session.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path

from chimera.config.swarm import Swarm
from chimera.lib.mcp.session import McpSession
from chimera.lib.mcp.transports import ServerTarget, connect
from chimera.models.llm import ToolSpec
from chimera.models.mcp_config import McpServerConfig, TenantMcpOverride
from chimera.models.types import JsonValue
from chimera.ports.tools import ToolBinding, ToolResult, ToolUnavailable


class McpToolbox:
    """Implements :class:`~chimera.ports.tools.Toolbox` over MCP client sessions.

    Nothing connects until a tool is listed or called.

    Args:
        servers: the swarm's ``mcp_servers``.
        overrides: per tenant, its own settings per server.
        base_dir: the folder stdio servers' ``cwd`` is relative to (swarm.yaml's).
    """

    def __init__(
        self,
        servers: Mapping[str, McpServerConfig],
        overrides: Mapping[str, Mapping[str, TenantMcpOverride]] | None = None,
        base_dir: Path = Path("."),
    ) -> None:
        self.servers = dict(servers)
        self.overrides = {tenant: dict(o) for tenant, o in (overrides or {}).items()}
        self.base_dir = base_dir
        self._sessions: dict[tuple[str, str | None], McpSession] = {}
        self._closed = False

    async def tools(self, server: str, tenant: str | None = None) -> Sequence[ToolSpec]:
        """Every tool ``server`` lists (the allow-list is applied by the tool catalog).

        Raises:
            ToolUnavailable: the server could not be reached.
        """
        return await self.session(server, tenant).tools()

    async def call(
        self, binding: ToolBinding, arguments: dict[str, JsonValue], tenant: str
    ) -> ToolResult:
        """Call ``binding``'s tool on its server within ``binding.timeout_s``.

        Raises:
            ToolUnavailable: the server is down, broke the session, or did not answer in time.
        """
        session = self.session(binding.server, tenant)
        return await session.call(binding.tool, arguments, binding.timeout_s)

    def session(self, server: str, tenant: str | None = None) -> McpSession:
        """The (lazily opened) session to ``server`` as ``tenant`` sees it.

        Raises:
            ToolUnavailable: the toolbox is closed.
            KeyError: no such server is configured.
        """
        if self._closed:
            raise ToolUnavailable(f"{server}: the toolbox is closed")
        config = self.servers.get(server)
        if config is None:
            raise KeyError(f"no MCP server called {server!r} is configured")
        override = self.overrides.get(tenant, {}).get(server) if tenant else None
        key = (server, tenant if override is not None else None)
        session = self._sessions.get(key)
        if session is None:
            target = ServerTarget(server, config, override, self.base_dir)
            label = server if override is None else f"{server} (tenant {tenant})"
            session = McpSession(
                label, lambda on_closed: connect(target, on_closed), config.connect_timeout_s
            )
            self._sessions[key] = session
        return session

    async def aclose(self) -> None:
        """Close every session; calls made afterwards fail with ``ToolUnavailable``."""
        self._closed = True
        sessions, self._sessions = list(self._sessions.values()), {}
        await asyncio.gather(*(session.aclose() for session in sessions))


def build_toolbox(swarm: Swarm) -> McpToolbox:
    """The toolbox for ``swarm``'s ``mcp_servers`` and its tenants' overrides."""
    config = swarm.config
    overrides = {name: tenant.mcp_servers for name, tenant in config.tenants.items()}
    return McpToolbox(config.mcp_servers, overrides, swarm.path.parent.resolve())
