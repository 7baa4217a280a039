"""Which tools a skill's agent gets: its ``tools:`` references, resolved against the servers.

A skill names tools as ``server.tool`` or ``server.*``; the server's allow-list limits what
``server.*`` brings in, and the server (or per-tool) settings decide each tool's call timeout
and whether a call is sensitive. The model sees each tool under its own name on its server,
so two tools of one skill may not share a name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from chimera.models.config import SkillConfig
from chimera.models.llm import ToolSpec
from chimera.models.mcp_config import McpServerConfig, split_tool_ref
from chimera.ports.tools import ToolBinding, Toolbox


class ToolCatalogError(Exception):
    """A skill's tools cannot be resolved against what its servers offer."""


class MissingTool(ToolCatalogError):
    """A tool the skill names is not offered by its server (or not configured at all)."""


def select_tools(
    refs: Sequence[str],
    servers: Mapping[str, McpServerConfig],
    offered: Mapping[str, Sequence[ToolSpec]],
) -> list[ToolBinding]:
    """Resolve tool references into bindings, in the order the skill lists them.

    Args:
        refs: the skill's ``tools`` entries (``server.tool`` or ``server.*``).
        servers: the swarm's ``mcp_servers``.
        offered: the tools each referenced server lists.

    Returns:
        One binding per tool the model may call.

    Raises:
        MissingTool: a named tool is not offered, not allowed, or its server unknown.
        ToolCatalogError: two selected tools would reach the model under one name.
    """
    bindings: dict[str, ToolBinding] = {}
    for ref in refs:
        server_name, wanted = split_tool_ref(ref)
        server = servers.get(server_name)
        if server is None:
            raise MissingTool(f"{ref}: no MCP server called {server_name!r} is configured")
        listing = {spec.name: spec for spec in offered.get(server_name, ())}
        if wanted is None:
            specs = [spec for name, spec in listing.items() if server.allows(name)]
        elif not server.allows(wanted):
            raise MissingTool(f"{ref}: tool {wanted!r} is not in server {server_name!r}'s tools")
        elif wanted not in listing:
            raise MissingTool(
                f"{ref}: server {server_name!r} does not offer a tool {wanted!r}"
                f" (it offers: {', '.join(sorted(listing)) or 'nothing'})"
            )
        else:
            specs = [listing[wanted]]
        for spec in specs:
            _add(bindings, _bind(spec, server_name, server))
    return list(bindings.values())


def _bind(spec: ToolSpec, server_name: str, server: McpServerConfig) -> ToolBinding:
    return ToolBinding(
        spec=spec,
        server=server_name,
        tool=spec.name,
        sensitive=server.sensitive_for(spec.name),
        timeout_s=server.call_timeout_for(spec.name),
    )


def _add(bindings: dict[str, ToolBinding], binding: ToolBinding) -> None:
    name = binding.spec.name
    earlier = bindings.get(name)
    if earlier is None:
        bindings[name] = binding
    elif earlier.server != binding.server:
        raise ToolCatalogError(
            f"servers {earlier.server!r} and {binding.server!r} both offer a tool named "
            f"{name!r}; limit one server's tools allow-list or name the tools one by one"
        )


def missing_tools(
    refs: Sequence[str],
    servers: Mapping[str, McpServerConfig],
    offered: Mapping[str, Sequence[ToolSpec]],
) -> list[tuple[int, str]]:
    """Every reference naming a tool its server does not offer, as ``(index, message)``.

    Servers missing from ``offered`` (not reached) are left out: nothing is known of them.
    """
    found = []
    for index, ref in enumerate(refs):
        server_name, wanted = split_tool_ref(ref)
        if wanted is None or server_name not in offered or server_name not in servers:
            continue
        names = {spec.name for spec in offered[server_name]}
        if wanted not in names:
            found.append(
                (
                    index,
                    f"tool {ref!r}: server {server_name!r} does not offer {wanted!r} "
                    f"(it offers: {', '.join(sorted(names)) or 'nothing'})",
                )
            )
    return found


def referenced_servers(refs: Sequence[str]) -> list[str]:
    """The servers ``refs`` name, each once, in first-mention order."""
    return list(dict.fromkeys(split_tool_ref(ref)[0] for ref in refs))


async def skill_tools(
    skill: SkillConfig,
    servers: Mapping[str, McpServerConfig],
    toolbox: Toolbox,
    tenant: str,
) -> dict[str, ToolBinding]:
    """The tools ``skill`` may call for ``tenant``, by the name the model sees them under.

    The toolbox caches each server's listing per session, so after the first task this
    makes no round trip.

    Raises:
        ToolUnavailable: a server could not be reached to list its tools (retryable).
        MissingTool: a named tool is not offered (the files and the server disagree).
        ToolCatalogError: two selected tools share a name.
    """
    if not skill.tools:
        return {}
    offered = {
        name: await toolbox.tools(name, tenant)
        for name in referenced_servers(skill.tools)
        if name in servers
    }
    return {b.spec.name: b for b in select_tools(skill.tools, servers, offered)}
