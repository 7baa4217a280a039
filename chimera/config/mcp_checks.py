"""Cross-file checks of ``mcp_servers`` and of the tools skills name.

Each problem points at the YAML node at fault: the server entry or tenant override in
``swarm.yaml``, or the ``tools`` entry in the skill file.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from chimera.config.errors import Problem, unknown_message
from chimera.config.swarm import Skill
from chimera.config.yaml_source import KEY, Loc, SourceMap
from chimera.models.config import SwarmConfig
from chimera.models.mcp_config import McpServerConfig, split_tool_ref


def check_mcp(
    config: SwarmConfig,
    skills: Mapping[str, Skill],
    source: SourceMap,
    tool_backends: Collection[str] | None = None,
) -> list[Problem]:
    """Check MCP servers, tenant overrides and skills' tool references.

    Args:
        config: the swarm file.
        skills: the skills that loaded.
        source: positions in the swarm file.
        tool_backends: backends that can call tools; ``None`` skips that check.

    Returns:
        One problem per mistake found (empty when all is well).
    """
    problems = _check_servers(config.mcp_servers, source)
    problems += _check_tenant_overrides(config, source)
    for skill in skills.values():
        problems += _check_skill(skill, config.mcp_servers, tool_backends)
    return problems


def _check_servers(servers: Mapping[str, McpServerConfig], source: SourceMap) -> list[Problem]:
    problems = []
    for name, server in servers.items():
        seen: set[str] = set()
        for index, tool in enumerate(server.tools or []):
            if tool in seen:
                loc: Loc = ("mcp_servers", name, "tools", index)
                problems.append(source.problem(loc, f"tool {tool!r} is listed twice"))
            seen.add(tool)
        for tool in server.tool_settings:
            if not server.allows(tool):
                loc = ("mcp_servers", name, "tool_settings", tool, KEY)
                problems.append(
                    source.problem(loc, f"tool {tool!r} is not in the tools of server {name!r}")
                )
    return problems


def _check_tenant_overrides(config: SwarmConfig, source: SourceMap) -> list[Problem]:
    problems = []
    for tenant, tenant_config in config.tenants.items():
        for name, override in tenant_config.mcp_servers.items():
            base: Loc = ("tenants", tenant, "mcp_servers", name)
            server = config.mcp_servers.get(name)
            if server is None:
                message = _unknown("MCP server", name, config.mcp_servers)
                problems.append(source.problem((*base, KEY), message))
                continue
            if server.transport == "stdio" and override.headers:
                message = f"server {name!r} is a stdio server; headers apply to url servers"
                problems.append(source.problem((*base, "headers"), message))
            if server.transport == "http" and override.env:
                message = f"server {name!r} is a url server; env applies to stdio servers"
                problems.append(source.problem((*base, "env"), message))
    return problems


def _check_skill(
    skill: Skill,
    servers: Mapping[str, McpServerConfig],
    tool_backends: Collection[str] | None,
) -> list[Problem]:
    found: list[tuple[Loc, str]] = []
    named: dict[str, str] = {}
    for index, ref in enumerate(skill.config.tools):
        server_name, tool = split_tool_ref(ref)
        server = servers.get(server_name)
        if server is None:
            found.append((("tools", index), _unknown("MCP server", server_name, servers)))
            continue
        if tool is None:
            continue
        if not server.allows(tool):
            allowed = ", ".join(server.tools or [])
            message = f"tool {tool!r} is not in the tools of server {server_name!r} ({allowed})"
            found.append((("tools", index), message))
            continue
        if tool in named:
            first = named[tool]
            message = (
                f"{ref!r} repeats {first!r}"
                if first == ref
                else f"{ref!r} and {first!r} both give the model a tool named {tool!r}"
            )
            found.append((("tools", index), message))
            continue
        named[tool] = ref
    backend = skill.config.backend
    if skill.config.tools and tool_backends is not None and backend not in tool_backends:
        names = ", ".join(sorted(tool_backends)) or "none installed"
        message = f"backend {backend!r} cannot call tools (backends that can: {names})"
        found.append((("backend",), message))
    if not found:
        return []
    skill_source = skill.source or SourceMap(skill.path)
    return [skill_source.problem(loc, message) for loc, message in found]


def _unknown(kind: str, name: str, allowed: Collection[str]) -> str:
    message = unknown_message(kind, name, allowed)
    return message if allowed else message + " (swarm.yaml lists no mcp_servers)"
