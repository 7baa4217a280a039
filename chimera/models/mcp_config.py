"""Configuration of the MCP servers a swarm's skills take their tools from.

``swarm.yaml`` lists servers under ``mcp_servers``: a stdio server is a program chimera
starts (``command``, ``args``, ``env``, ``cwd``), a streamable-HTTP server is a ``url`` with
``headers``. A tenant may override ``env`` or ``headers`` with its own credentials
(``tenants.<t>.mcp_servers.<server>``). Skills name tools as ``server.tool`` or ``server.*``.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

#: Server names: used in ``server.tool`` references, so no dots.
SERVER_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]{0,63}$"
#: Tool names as MCP allows them (letters, digits, ``_ - .``; up to 128 characters).
TOOL_NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,128}$"
#: A skill's tool reference: ``server.tool`` (one tool) or ``server.*`` (every allowed tool).
TOOL_REF_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]{0,63}\.(\*|[A-Za-z0-9_.-]{1,128})$"

_REF = re.compile(TOOL_REF_PATTERN)


def _check_tool_ref(ref: str) -> str:
    if _REF.match(ref):
        return ref
    if re.match(SERVER_NAME_PATTERN, ref):
        raise ValueError(f"tool reference {ref!r} names no tool; write '{ref}.*' for all of them")
    raise ValueError(f"tool reference {ref!r} is not 'server.tool' or 'server.*'")


ServerName = Annotated[str, StringConstraints(pattern=SERVER_NAME_PATTERN)]
ToolName = Annotated[str, StringConstraints(pattern=TOOL_NAME_PATTERN)]
ToolRefText = Annotated[
    str,
    AfterValidator(_check_tool_ref),
    WithJsonSchema({"type": "string", "pattern": TOOL_REF_PATTERN}),
]

#: Default seconds to start (or reach) a server and list its tools.
DEFAULT_CONNECT_TIMEOUT_S = 30.0
#: Default seconds one tool call may take.
DEFAULT_CALL_TIMEOUT_S = 60.0
#: Default bound on a skill's LLM steps (each step may ask for several tool calls).
DEFAULT_MAX_STEPS = 8


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class McpToolSettings(_Strict):
    """Settings of one tool that differ from its server's."""

    call_timeout_s: float | None = Field(
        default=None, gt=0, le=86_400, description="Seconds one call may take (server's if unset)."
    )
    sensitive: bool | None = Field(
        default=None, description="A call waits for a human's approval (server's if unset)."
    )


class McpServerConfig(_Strict):
    """One MCP server: how to reach it, which of its tools skills may use, and limits."""

    command: str | None = Field(
        default=None, min_length=1, description="stdio: the program to start."
    )
    args: list[str] = Field(default_factory=list, description="stdio: its arguments.")
    env: dict[str, str] = Field(
        default_factory=dict,
        description="stdio: environment variables, added to a minimal inherited set "
        "(HOME, LOGNAME, PATH, SHELL, TERM, USER).",
    )
    cwd: str | None = Field(
        default=None,
        description="stdio: working directory, relative to swarm.yaml (default: its folder).",
    )
    url: str | None = Field(
        default=None, pattern=r"^https?://", description="Streamable HTTP: the endpoint URL."
    )
    headers: dict[str, str] = Field(
        default_factory=dict, description="Streamable HTTP: headers sent with every request."
    )
    connect_timeout_s: float = Field(
        default=DEFAULT_CONNECT_TIMEOUT_S,
        gt=0,
        le=3600,
        description="Seconds to start or reach the server and list its tools.",
    )
    call_timeout_s: float = Field(
        default=DEFAULT_CALL_TIMEOUT_S, gt=0, le=86_400, description="Seconds one call may take."
    )
    tools: list[ToolName] | None = Field(
        default=None,
        min_length=1,
        description="Allow-list: the only tools skills may use (default: every tool offered).",
    )
    tool_settings: dict[ToolName, McpToolSettings] = Field(
        default_factory=dict, description="Per-tool call_timeout_s and sensitive."
    )
    sensitive: bool = Field(
        default=False, description="Every call to this server's tools waits for a human."
    )

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerConfig:
        if (self.command is None) == (self.url is None):
            raise ValueError("give either command (a stdio server) or url (streamable HTTP)")
        if self.url is not None and (self.args or self.env or self.cwd is not None):
            raise ValueError("args, env and cwd are for stdio servers (command), not url")
        if self.command is not None and self.headers:
            raise ValueError("headers are for streamable-HTTP servers (url), not command")
        return self

    @property
    def transport(self) -> Literal["stdio", "http"]:
        """``stdio`` for a started program, ``http`` for a streamable-HTTP endpoint."""
        return "stdio" if self.command is not None else "http"

    def allows(self, tool: str) -> bool:
        """Tell whether skills may use ``tool`` (the allow-list, when there is one)."""
        return self.tools is None or tool in self.tools

    def call_timeout_for(self, tool: str) -> float:
        """Seconds one call of ``tool`` may take."""
        settings = self.tool_settings.get(tool)
        if settings is not None and settings.call_timeout_s is not None:
            return settings.call_timeout_s
        return self.call_timeout_s

    def sensitive_for(self, tool: str) -> bool:
        """Tell whether a call of ``tool`` waits for a human."""
        settings = self.tool_settings.get(tool)
        if settings is not None and settings.sensitive is not None:
            return settings.sensitive
        return self.sensitive


class TenantMcpOverride(_Strict):
    """A tenant's own settings for one server, merged over the server's (its credentials)."""

    env: dict[str, str] = Field(
        default_factory=dict, description="stdio: environment variables for this tenant."
    )
    headers: dict[str, str] = Field(
        default_factory=dict, description="Streamable HTTP: headers for this tenant."
    )


def split_tool_ref(ref: str) -> tuple[str, str | None]:
    """Split a skill's tool reference into ``(server, tool)``; tool ``None`` means all.

    Raises:
        ValueError: ``ref`` is not ``server.tool`` or ``server.*``.
    """
    _check_tool_ref(ref)
    server, _, tool = ref.partition(".")
    return server, (None if tool == "*" else tool)
