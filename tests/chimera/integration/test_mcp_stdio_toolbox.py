"""The MCP toolbox against the demo support-desk server as a real stdio subprocess.

The server is started through ``sh`` so every start leaves its pid (and the tenant mark
from its environment) in a log file: the tests count server processes and kill them.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chimera.lib.mcp import McpToolbox
from chimera.models.config import SkillConfig
from chimera.models.llm import LLMRequest, LLMResponse, Role, ToolCall, ToolSpec
from chimera.models.mcp_config import McpServerConfig, TenantMcpOverride
from chimera.ports.tools import ToolBinding, ToolUnavailable
from chimera.services.tool_catalog import skill_tools
from chimera.services.worker.agent import AgentLimits, run_agent
from chimera.services.worker.core import Answer
from chimera.testing import make_request

pytestmark = pytest.mark.slow


def desk_server(starts: Path, latency_ms: int = 0, **fields: object) -> McpServerConfig:
    server = f'"{sys.executable}" -m chimera.demo.support_tools'
    command = f'echo "$$ ${{MARK:-shared}}" >> {starts}; exec {server}'
    return McpServerConfig(
        command="sh",
        args=["-c", command],
        env={"SUPPORT_TOOLS_LATENCY_MS": str(latency_ms)},
        **fields,  # type: ignore[arg-type]
    )


def started(log: Path) -> list[tuple[int, str]]:
    if not log.exists():
        return []
    lines = [line.split() for line in log.read_text().splitlines()]
    return [(int(pid), mark) for pid, mark in lines]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def binding(tool: str = "lookup_order", timeout_s: float = 30.0) -> ToolBinding:
    return ToolBinding(spec=ToolSpec(name=tool), server="desk", tool=tool, timeout_s=timeout_s)


@pytest.fixture
def starts(tmp_path: Path) -> Path:
    return tmp_path / "starts.log"


@pytest.fixture
async def toolbox(starts: Path) -> AsyncIterator[McpToolbox]:
    box = McpToolbox({"desk": desk_server(starts)})
    yield box
    await box.aclose()


async def test_the_server_starts_on_first_use_and_once_for_many_calls(
    toolbox: McpToolbox, starts: Path
) -> None:
    assert started(starts) == []
    names = [spec.name for spec in await toolbox.tools("desk", "acme")]
    assert names == ["lookup_order", "search_kb", "issue_refund"]
    results = await asyncio.gather(
        *(toolbox.call(binding(), {"order_id": "A-1001"}, "acme") for _ in range(40)),
        *(toolbox.call(binding(), {"order_id": "G-2002"}, "globex") for _ in range(40)),
    )
    customers = {r.structured["customer"] for r in results if isinstance(r.structured, dict)}
    assert customers == {"Dana", "Ola"}
    assert len(started(starts)) == 1


async def test_a_tool_error_is_a_result_not_a_failure(toolbox: McpToolbox) -> None:
    result = await toolbox.call(binding(), {"order_id": "Q-9"}, "acme")
    assert result.is_error
    assert "no order 'Q-9'" in result.text
    ok = await toolbox.call(binding("search_kb"), {"query": "password reset"}, "acme")
    assert not ok.is_error
    assert "KB-2" in ok.text


async def test_a_killed_server_fails_calls_in_flight_and_the_next_call_restarts_it(
    starts: Path,
) -> None:
    toolbox = McpToolbox({"desk": desk_server(starts, latency_ms=30_000)})
    await toolbox.tools("desk")
    [(first_pid, _)] = started(starts)
    in_flight = [
        asyncio.create_task(toolbox.call(binding(), {"order_id": "A-1001"}, "acme"))
        for _ in range(5)
    ]
    await asyncio.sleep(0.5)  # let the requests reach the server
    os.kill(first_pid, signal.SIGKILL)
    outcomes = await asyncio.wait_for(asyncio.gather(*in_flight, return_exceptions=True), 20)
    assert all(isinstance(o, ToolUnavailable) for o in outcomes), outcomes
    assert "closed the connection" in str(outcomes[0])
    names = [spec.name for spec in await toolbox.tools("desk")]
    assert "lookup_order" in names
    assert len(started(starts)) == 2
    assert toolbox.session("desk").opened == 2
    await toolbox.aclose()


async def test_a_slow_call_times_out_and_the_server_keeps_running(starts: Path) -> None:
    toolbox = McpToolbox({"desk": desk_server(starts, latency_ms=30_000)})
    with pytest.raises(ToolUnavailable, match=r"did not answer within 0\.5s"):
        await toolbox.call(binding(timeout_s=0.5), {"order_id": "A-1001"}, "acme")
    [(pid, _)] = started(starts)
    assert alive(pid)
    assert toolbox.session("desk").opened == 1
    await toolbox.aclose()


async def test_closing_the_toolbox_stops_the_server(starts: Path) -> None:
    toolbox = McpToolbox({"desk": desk_server(starts)})
    await toolbox.call(binding(), {"order_id": "A-1002"}, "acme")
    [(pid, _)] = started(starts)
    assert alive(pid)
    await toolbox.aclose()
    assert not alive(pid)
    with pytest.raises(ToolUnavailable, match="closed"):
        await toolbox.call(binding(), {"order_id": "A-1002"}, "acme")


async def test_a_tenant_with_its_own_env_gets_its_own_server(starts: Path) -> None:
    overrides = {"acme": {"desk": TenantMcpOverride(env={"MARK": "acme"})}}
    toolbox = McpToolbox({"desk": desk_server(starts)}, overrides)
    await asyncio.gather(
        toolbox.call(binding(), {"order_id": "A-1001"}, "acme"),
        toolbox.call(binding(), {"order_id": "A-1001"}, "globex"),
        toolbox.call(binding(), {"order_id": "A-1001"}, "initech"),
    )
    assert sorted(mark for _, mark in started(starts)) == ["acme", "shared"]
    await toolbox.aclose()


async def test_a_server_that_exits_at_once_is_unavailable() -> None:
    toolbox = McpToolbox({"desk": McpServerConfig(command="sh", args=["-c", "exit 3"])})
    with pytest.raises(ToolUnavailable, match="desk: cannot connect"):
        await toolbox.tools("desk")
    await toolbox.aclose()


async def test_a_missing_program_is_unavailable(tmp_path: Path) -> None:
    toolbox = McpToolbox({"desk": McpServerConfig(command=str(tmp_path / "no-such-server"))})
    with pytest.raises(ToolUnavailable, match="No such file or directory"):
        await toolbox.tools("desk")
    await toolbox.aclose()


async def test_an_unknown_server_is_a_key_error(toolbox: McpToolbox) -> None:
    with pytest.raises(KeyError, match="no MCP server called 'mail'"):
        await toolbox.tools("mail")


class ScriptedBackend:
    """Asks for two tools at once, then answers from what the tools returned."""

    name = "scripted"

    def __init__(self) -> None:
        self.requests: list[LLMRequest] = []

    async def complete(self, request: LLMRequest) -> LLMResponse:
        self.requests.append(request)
        if len(self.requests) == 1:
            return LLMResponse(
                tool_calls=[
                    ToolCall(id="c1", name="lookup_order", arguments={"order_id": "A-1001"}),
                    ToolCall(id="c2", name="lookup_order", arguments={"order_id": "B-9"}),
                    ToolCall(id="c3", name="search_kb", arguments={"query": "charged twice"}),
                ]
            )
        answers = {m.tool_call_id: m for m in request.messages if m.role is Role.TOOL}
        order = json.loads(answers["c1"].content or "{}")
        return LLMResponse(output={"reply": f"Refund for {order['customer']}"}, confidence=0.9)


async def test_the_agent_loop_calls_the_demo_servers_tools(starts: Path) -> None:
    servers = {"desk": desk_server(starts, tools=["lookup_order", "search_kb"])}
    toolbox = McpToolbox(servers)
    skill = SkillConfig(
        name="answer",
        prompt="p",
        input_schema={"type": "object"},
        output_schema={"type": "object"},
        tools=["desk.*"],
    )
    tools = await skill_tools(skill, servers, toolbox, "acme")
    assert list(tools) == ["lookup_order", "search_kb"]
    backend = ScriptedBackend()
    request = make_request(tools=[b.spec for b in tools.values()])
    limits = AgentLimits(max_steps=4, timeout_s=30, default_confidence=0.5)
    run = await run_agent(request, backend, limits, "acme", tools, toolbox)
    assert isinstance(run.outcome, Answer)
    assert run.outcome.output == {"reply": "Refund for Dana"}
    assert [(r.tool, r.is_error) for r in run.tool_calls] == [
        ("lookup_order", False),
        ("lookup_order", True),
        ("search_kb", False),
    ]
    answers = {m.tool_call_id: m for m in backend.requests[1].messages if m.role is Role.TOOL}
    assert answers["c2"].is_error
    assert "no order 'B-9'" in (answers["c2"].content or "")
    assert "KB-1" in (answers["c3"].content or "")
    assert len(started(starts)) == 1
    await toolbox.aclose()
