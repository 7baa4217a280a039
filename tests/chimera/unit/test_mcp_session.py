"""The MCP session adapter against in-process servers (the SDK's in-memory transport)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from mcp import Client, MCPError
from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import INTERNAL_ERROR, INVALID_PARAMS
from mcp_types import (
    CallToolResult,
    EmbeddedResource,
    ImageContent,
    ResourceLink,
    TextContent,
    TextResourceContents,
)

from chimera.demo.support_tools import build_server
from chimera.lib.mcp.results import bounded, tool_result
from chimera.lib.mcp.session import McpSession
from chimera.ports.tools import ToolUnavailable


def tools_server() -> MCPServer:
    server: MCPServer = MCPServer("test-tools", log_level="WARNING")

    @server.tool()
    async def echo(text: str) -> str:
        """Say it back."""
        return text

    @server.tool()
    async def wait(seconds: float) -> str:
        """Take a while."""
        await anyio.sleep(seconds)
        return "done"

    @server.tool()
    async def refuse() -> str:
        """Fail as a tool."""
        raise ToolError("no such customer")

    @server.tool()
    async def reject_call() -> str:
        """Fail as a protocol error the model could fix."""
        raise MCPError(code=INVALID_PARAMS, message="bad arguments")

    @server.tool()
    async def break_down() -> str:
        """Fail as a protocol error the model cannot fix."""
        raise MCPError(code=INTERNAL_ERROR, message="database gone")

    return server


class Factory:
    """Builds in-memory clients to ``server`` and counts them."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.built = 0

    def __call__(self, on_closed: Callable[[], None]) -> Client:
        self.built += 1
        return Client(self.server, cache=None)


@pytest.fixture
async def session() -> AsyncIterator[McpSession]:
    session = McpSession("test", Factory(tools_server()), connect_timeout_s=10)
    yield session
    await session.aclose()


async def test_nothing_opens_until_first_use() -> None:
    factory = Factory(tools_server())
    session = McpSession("test", factory, connect_timeout_s=10)
    assert (factory.built, session.opened) == (0, 0)
    names = [t.name for t in await session.tools()]
    assert names == ["echo", "wait", "refuse", "reject_call", "break_down"]
    assert (factory.built, session.opened) == (1, 1)
    await session.aclose()


async def test_concurrent_calls_share_one_session() -> None:
    factory = Factory(tools_server())
    session = McpSession("test", factory, connect_timeout_s=10)
    results = await asyncio.gather(
        *(session.call("echo", {"text": f"hi {i}"}, timeout_s=10) for i in range(50))
    )
    assert [r.text for r in results] == [f"hi {i}" for i in range(50)]
    assert not any(r.is_error for r in results)
    assert (factory.built, session.opened) == (1, 1)
    await session.aclose()


async def test_tool_listing_is_cached_per_session(session: McpSession) -> None:
    first = await session.tools()
    second = await session.tools()
    assert first == second
    assert session.opened == 1


async def test_a_tools_own_error_is_a_result(session: McpSession) -> None:
    result = await session.call("refuse", {}, timeout_s=10)
    assert result.is_error
    assert "no such customer" in result.text


async def test_an_unknown_tool_or_bad_arguments_go_back_to_the_model(
    session: McpSession,
) -> None:
    unknown = await session.call("nope", {}, timeout_s=10)
    assert unknown.is_error
    assert "nope" in unknown.text
    invalid = await session.call("echo", {"text": 3}, timeout_s=10)
    assert invalid.is_error
    rejected = await session.call("reject_call", {}, timeout_s=10)
    assert rejected.is_error
    assert "bad arguments" in rejected.text


async def test_a_server_side_failure_is_unavailable_but_the_session_stays(
    session: McpSession,
) -> None:
    with pytest.raises(ToolUnavailable, match=r"database gone \(code -32603\)"):
        await session.call("break_down", {}, timeout_s=10)
    assert (await session.call("echo", {"text": "still here"}, timeout_s=10)).text == "still here"
    assert session.opened == 1


async def test_a_call_past_its_timeout_is_unavailable_and_the_session_stays(
    session: McpSession,
) -> None:
    with pytest.raises(ToolUnavailable, match=r"'wait' did not answer within 0\.2s"):
        await session.call("wait", {"seconds": 30}, timeout_s=0.2)
    assert (await session.call("echo", {"text": "ok"}, timeout_s=10)).text == "ok"
    assert session.opened == 1


def hanging_server() -> MCPServer:
    @asynccontextmanager
    async def never_ready(_: MCPServer) -> AsyncIterator[None]:
        await anyio.sleep_forever()
        yield

    return MCPServer("hangs", lifespan=never_ready, log_level="WARNING")


async def test_a_server_that_does_not_start_in_time_fails_everyone_waiting_once() -> None:
    factory = Factory(hanging_server())
    session = McpSession("slow", factory, connect_timeout_s=0.2)
    outcomes = await asyncio.gather(
        *(session.call("echo", {}, timeout_s=1) for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(o, ToolUnavailable) for o in outcomes)
    assert "slow: cannot connect: did not start within 0.2s" in str(outcomes[0])
    assert factory.built == 1
    with pytest.raises(ToolUnavailable):
        await session.tools()
    assert factory.built == 2  # the next call tries again
    await session.aclose()


async def test_a_client_that_cannot_be_built_is_unavailable() -> None:
    def broken(on_closed: Callable[[], None]) -> Client:
        return Client(BrokenTransport())

    session = McpSession("broken", broken, connect_timeout_s=5)
    with pytest.raises(ToolUnavailable, match="broken: cannot connect: OSError: refused"):
        await session.tools()
    await session.aclose()


class BrokenTransport:
    async def __aenter__(self) -> Any:
        raise OSError("refused")

    async def __aexit__(self, *exc: object) -> None:
        return None


async def test_after_close_calls_are_refused(session: McpSession) -> None:
    await session.tools()
    await session.aclose()
    with pytest.raises(ToolUnavailable, match="the toolbox is closed"):
        await session.call("echo", {"text": "late"}, timeout_s=1)


async def test_the_demo_server_answers_in_memory() -> None:
    session = McpSession("desk", Factory(build_server()), connect_timeout_s=10)
    order = await session.call("lookup_order", {"order_id": "a-1001"}, timeout_s=10)
    assert order.structured is not None
    assert order.structured["customer"] == "Dana"
    kb = await session.call("search_kb", {"query": "charged twice refund"}, timeout_s=10)
    assert kb.structured is not None
    assert kb.structured["articles"][0]["id"] == "KB-1"
    refund = await session.call(
        "issue_refund", {"order_id": "A-1001", "amount": 49, "reason": "duplicate"}, 10
    )
    assert refund.structured is not None
    assert refund.structured["refund_id"] == "R-0001"
    too_much = await session.call(
        "issue_refund", {"order_id": "A-1001", "amount": 50, "reason": "again"}, 10
    )
    assert too_much.is_error
    assert "49.0 is left to refund" in too_much.text
    missing = await session.call("lookup_order", {"order_id": "Z-1"}, timeout_s=10)
    assert missing.is_error
    assert "no order 'Z-1'" in missing.text
    await session.aclose()


def test_results_render_every_kind_of_content() -> None:
    result = CallToolResult(
        content=[
            TextContent(type="text", text="plain"),
            ImageContent(type="image", data=base64.b64encode(b"png").decode(), mime_type="image/x"),
            EmbeddedResource(
                type="resource",
                resource=TextResourceContents(uri="file:///a.txt", text="inside", mime_type=None),
            ),
            ResourceLink(type="resource_link", uri="file:///b", name="b", description="the b"),
        ],
        is_error=False,
    )
    converted = tool_result(result, duration_ms=1.5)
    assert converted.text.splitlines() == [
        "plain",
        "[image (image/x), 4 base64 characters]",
        "inside",
        "[resource link file:///b: the b]",
    ]
    assert converted.duration_ms == 1.5


def test_structured_only_results_are_shown_as_json() -> None:
    result = CallToolResult(content=[], structured_content={"a": 1}, is_error=False)
    assert tool_result(result, 0).text == '{"a": 1}'


def test_long_results_are_cut_and_say_so() -> None:
    assert bounded("x" * 10, limit=4) == "xxxx\n[... 6 more characters left out]"
    assert bounded("short", limit=10) == "short"
