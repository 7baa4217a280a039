"""MCP adapters: the toolbox skills call tools through, and the swarm served over MCP."""

from chimera.lib.mcp.toolbox import McpToolbox, build_toolbox

__all__ = ["McpToolbox", "build_toolbox"]
