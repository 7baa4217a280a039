"""Translating between the MCP SDK's types and chimera's tool port."""

from __future__ import annotations

import json
from typing import Any

import mcp_types
from mcp_types import CallToolResult

from chimera.models.llm import ToolSpec
from chimera.ports.tools import ToolResult

#: Longest tool result text handed to the model. A tool that dumps megabytes would blow
#: the model's context and every stored copy of the conversation; the cut is marked.
MAX_RESULT_CHARS = 100_000


def tool_spec(tool: mcp_types.Tool) -> ToolSpec:
    """The model's view of an MCP tool: its name, description and input schema."""
    return ToolSpec(
        name=tool.name,
        description=tool.description or tool.title or "",
        input_schema=dict(tool.input_schema),
    )


def tool_result(result: CallToolResult, duration_ms: float) -> ToolResult:
    """Turn an MCP ``CallToolResult`` into a :class:`ToolResult` (errors included)."""
    parts = [_content_text(block) for block in result.content]
    text = "\n".join(part for part in parts if part)
    structured = result.structured_content
    if not text and structured is not None:
        text = json.dumps(structured, ensure_ascii=False, default=str)
    return ToolResult(
        text=bounded(text),
        is_error=bool(result.is_error),
        structured=structured,  # parsed from JSON on the wire, so JSON-shaped already
        duration_ms=duration_ms,
    )


def bounded(text: str, limit: int = MAX_RESULT_CHARS) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[... {len(text) - limit} more characters left out]"


def _content_text(block: Any) -> str:
    if isinstance(block, mcp_types.TextContent):
        return block.text
    if isinstance(block, mcp_types.EmbeddedResource):
        resource = block.resource
        if isinstance(resource, mcp_types.TextResourceContents):
            return resource.text
        return f"[binary resource {resource.uri} ({resource.mime_type or 'unknown type'})]"
    if isinstance(block, mcp_types.ResourceLink):
        return f"[resource link {block.uri}: {block.description or block.name}]"
    if isinstance(block, mcp_types.ImageContent | mcp_types.AudioContent):
        kind = "image" if isinstance(block, mcp_types.ImageContent) else "audio"
        return f"[{kind} ({block.mime_type}), {len(block.data)} base64 characters]"
    return f"[{getattr(block, 'type', type(block).__name__)} content]"
