"""What ``chimera mcp tools`` found: each server's tools, and where files and servers disagree."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from chimera.config.swarm import Swarm
from chimera.config.yaml_source import KEY, load_yaml
from chimera.lib.mcp import build_toolbox
from chimera.models.llm import ToolSpec
from chimera.models.mcp_config import McpServerConfig
from chimera.ports.tools import ToolUnavailable
from chimera.services.tool_catalog import missing_tools

#: Longest description shown in the table (``--json`` has them whole).
DESCRIPTION_CHARS = 60


@dataclass
class ServerTools:
    """One server's tools as listed (``tools`` is None when it could not be reached)."""

    name: str
    config: McpServerConfig
    tools: list[ToolSpec] | None
    error: str | None = None

    @property
    def title(self) -> str:
        """Table title: the server, how it is reached, or why it was not."""
        where = " ".join([self.config.command or "", *self.config.args]) or self.config.url
        head = f"{self.name} ({self.config.transport}: {where})"
        return head if self.error is None else f"{head}: not reached"

    def rows(self) -> list[dict[str, Any]]:
        """One row per tool, for the table."""
        return [
            {
                "tool": spec.name,
                "allowed": "yes" if self.config.allows(spec.name) else "no",
                "sensitive": "yes" if self.config.sensitive_for(spec.name) else "",
                "timeout_s": self.config.call_timeout_for(spec.name),
                "arguments": _arguments(spec.input_schema),
                "description": _first_line(spec.description),
            }
            for spec in self.tools or []
        ]

    def as_json(self) -> dict[str, Any]:
        """The server and its tools, input schemas whole."""
        return {
            "server": self.name,
            "transport": self.config.transport,
            "reachable": self.tools is not None,
            "error": self.error,
            "tools": [
                {
                    "name": spec.name,
                    "description": spec.description,
                    "input_schema": spec.input_schema,
                    "allowed": self.config.allows(spec.name),
                    "sensitive": self.config.sensitive_for(spec.name),
                    "call_timeout_s": self.config.call_timeout_for(spec.name),
                }
                for spec in self.tools or []
            ],
        }


@dataclass
class ToolsReport:
    """Every listed server, and one ``file:line:col: message`` per disagreement."""

    tenant: str | None
    servers: list[ServerTools] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @classmethod
    async def collect(cls, swarm: Swarm, names: list[str], tenant: str | None) -> ToolsReport:
        """Connect to ``names`` (all at once) as ``tenant`` would, then compare with the files."""
        toolbox = build_toolbox(swarm)
        try:
            listed = await asyncio.gather(
                *(toolbox.tools(name, tenant) for name in names), return_exceptions=True
            )
        finally:
            await toolbox.aclose()
        report = cls(tenant)
        _, source = load_yaml(swarm.path)
        for name, outcome in zip(names, listed, strict=True):
            config = swarm.config.mcp_servers[name]
            if isinstance(outcome, ToolUnavailable):
                report.servers.append(ServerTools(name, config, None, str(outcome)))
                where = ("mcp_servers", name, KEY)
                report.problems.append(str(source.problem(where, str(outcome))))
                continue
            if isinstance(outcome, BaseException):
                raise outcome
            report.servers.append(ServerTools(name, config, list(outcome)))
            offered = {spec.name for spec in outcome}
            for index, tool in enumerate(config.tools or []):
                if tool not in offered:
                    message = f"server {name!r} does not offer allow-listed tool {tool!r}"
                    loc = ("mcp_servers", name, "tools", index)
                    report.problems.append(str(source.problem(loc, message)))
        report.problems += report._skill_problems(swarm)
        return report

    def _skill_problems(self, swarm: Swarm) -> list[str]:
        offered = {s.name: s.tools for s in self.servers if s.tools is not None}
        runs = set(swarm.config.tenants[self.tenant].skills) if self.tenant else set(swarm.skills)
        problems = []
        for name in sorted(runs):
            skill = swarm.skill(name)
            found = missing_tools(skill.config.tools, swarm.config.mcp_servers, offered)
            if not found:
                continue
            _, source = load_yaml(skill.path)
            problems += [str(source.problem(("tools", index), msg)) for index, msg in found]
        return problems

    def as_json(self) -> dict[str, Any]:
        """The whole report for ``--json``."""
        return {
            "tenant": self.tenant,
            "servers": [server.as_json() for server in self.servers],
            "problems": self.problems,
        }


def _arguments(schema: dict[str, Any]) -> str:
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return ""
    required = schema.get("required")
    needed = set(required) if isinstance(required, list) else set()
    return ", ".join(f"{name}*" if name in needed else name for name in properties)


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= DESCRIPTION_CHARS else line[: DESCRIPTION_CHARS - 3] + "..."
