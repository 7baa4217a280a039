"""``chimera mcp tools`` and ``chimera mcp serve`` as a user runs them.

``mcp tools`` goes through click's runner and starts the demo support-desk server as a
real stdio subprocess. ``mcp serve`` runs as a real ``chimera`` process, driven by the MCP
SDK's own client over stdio and over streamable HTTP, against a real Redis.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import redis.asyncio as aioredis
from click.testing import CliRunner
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from chimera.cli.app import cli
from chimera.lib.keys import Keyspace
from tests.chimera.helpers import ECHO_SKILL, write_swarm
from tests.conftest import REDIS_URL

REPO = Path(__file__).resolve().parents[3]
SWARM = REPO / "swarm.yaml"
TOKENS = {"CHIMERA_MCP_TOKEN_ACME": "a" * 24, "CHIMERA_MCP_TOKEN_GLOBEX": "g" * 24}

pytestmark = pytest.mark.slow

SKILL = """\
name: answer
prompt: "Answer {{{{ question }}}}"
input_schema: {{type: object, required: [question], properties: {{question: {{type: string}}}}}}
output_schema: {{type: object, required: [reply], properties: {{reply: {{type: string}}}}}}
tools: [{tools}]
"""

TOOLS_SWARM = """\
version: 1
skills: [skills/*.yaml]
mcp_servers:
  desk:
    command: {python}
    args: [-m, chimera.demo.support_tools]
    tool_settings:
      issue_refund: {{sensitive: true, call_timeout_s: 120}}
{extra}
tenants:
  acme: {{skills: [answer]}}
"""


def tools_project(tmp_path: Path, tools: str, extra: str = "") -> Path:
    (tmp_path / "skills").mkdir()
    (tmp_path / "skills" / "answer.yaml").write_text(SKILL.format(tools=tools))
    path = tmp_path / "swarm.yaml"
    path.write_text(TOOLS_SWARM.format(python=sys.executable, extra=textwrap.indent(extra, "  ")))
    return path


def test_mcp_tools_lists_each_servers_tools_with_their_schemas(tmp_path: Path) -> None:
    path = tools_project(tmp_path, "desk.lookup_order, desk.search_kb")
    result = CliRunner().invoke(cli, ["mcp", "tools", str(path), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    [desk] = report["servers"]
    assert (desk["server"], desk["reachable"], report["problems"]) == ("desk", True, [])
    tools = {t["name"]: t for t in desk["tools"]}
    assert sorted(tools) == ["issue_refund", "lookup_order", "search_kb"]
    assert tools["lookup_order"]["input_schema"]["required"] == ["order_id"]
    assert (tools["issue_refund"]["sensitive"], tools["issue_refund"]["call_timeout_s"]) == (
        True,
        120.0,
    )


def test_mcp_tools_as_a_table(tmp_path: Path) -> None:
    path = tools_project(tmp_path, "desk.*")
    result = CliRunner().invoke(cli, ["mcp", "tools", str(path)])
    assert result.exit_code == 0, result.output
    assert "desk (stdio:" in result.stdout
    assert "order_id*" in result.stdout
    assert "query*, limit" in result.stdout


def test_mcp_tools_reports_tools_the_servers_do_not_offer(tmp_path: Path) -> None:
    extra = "gone:\n  command: /nonexistent/mcp-server\n"
    path = tools_project(tmp_path, "desk.lookup_order, desk.cancel_order", extra)
    result = CliRunner().invoke(cli, ["mcp", "tools", str(path)])
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert (
        f"{tmp_path}/skills/answer.yaml:5:28: tool 'desk.cancel_order': server 'desk' "
        in (lines[-1])
    )
    assert any(line.startswith(f"{path}:9:3: gone: cannot connect:") for line in lines)


def test_mcp_tools_reports_allow_listed_tools_that_are_not_offered(tmp_path: Path) -> None:
    path = tools_project(tmp_path, "desk.*")
    text = path.read_text().replace(
        "    tool_settings:", "    tools: [search_kb, translate]\n    tool_settings:"
    )
    path.write_text(text.replace("issue_refund: {sensitive", "search_kb: {sensitive"))
    result = CliRunner().invoke(cli, ["mcp", "tools", str(path), "--server", "desk"])
    assert result.exit_code == 1, result.output
    assert "server 'desk' does not offer allow-listed tool 'translate'" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--server", "mail"], "error: unknown MCP server 'mail' (known: desk)"),
        (["--tenant", "initech"], "error: unknown tenant 'initech' (known: acme)"),
    ],
)
def test_mcp_tools_input_errors(tmp_path: Path, args: list[str], message: str) -> None:
    path = tools_project(tmp_path, "desk.*")
    result = CliRunner().invoke(cli, ["mcp", "tools", str(path), *args])
    assert result.exit_code == 2
    assert result.stderr.strip() == message


def test_mcp_serve_input_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    stdio = runner.invoke(cli, ["mcp", "serve", str(SWARM)])
    assert stdio.exit_code == 2
    assert "--tenant is required with --transport stdio (tenants: acme, globex)" in stdio.stderr
    for name in TOKENS:
        monkeypatch.delenv(name, raising=False)
    http = runner.invoke(cli, ["mcp", "serve", str(SWARM), "--transport", "http"])
    assert http.exit_code == 2
    assert "no tenant token is set; set CHIMERA_MCP_TOKEN_ACME, CHIMERA_MCP_TOKEN_GLOBEX" in (
        http.stderr
    )
    monkeypatch.setenv("CHIMERA_MCP_TOKEN_ACME", "short")
    weak = runner.invoke(cli, ["mcp", "serve", str(SWARM), "--transport", "http"])
    assert weak.exit_code == 2
    assert "CHIMERA_MCP_TOKEN_ACME is shorter than 16 characters" in weak.stderr
    unknown = runner.invoke(cli, ["mcp", "serve", str(SWARM), "--tenant", "initech"])
    assert "unknown tenant 'initech'" in unknown.stderr


def chimera_args(keyspace: Keyspace, *args: str) -> list[str]:
    return [
        "-m",
        "chimera",
        "mcp",
        "serve",
        str(SWARM),
        "--redis-url",
        REDIS_URL,
        "--prefix",
        keyspace.prefix,
        *args,
    ]


async def test_mcp_serve_over_stdio(real_redis: aioredis.Redis, keyspace: Keyspace) -> None:
    params = StdioServerParameters(
        command=sys.executable, args=chimera_args(keyspace, "--tenant", "acme")
    )
    async with Client(params) as client:
        submitted = await client.call_tool(
            "submit_task", {"skill": "classify", "input": {"subject": "Seats", "body": "More?"}}
        )
        assert submitted.structured_content is not None
        task_id = submitted.structured_content["task_id"]
        task = await client.call_tool("get_task", {"task_id": task_id})
        assert task.structured_content == {
            "task_id": task_id,
            "state": "pending",
            "skill": "classify",
            "session": submitted.structured_content["session"],
            "attempt": 1,
        }
        status = await client.call_tool("swarm_status", {})
        assert status.structured_content is not None
        assert status.structured_content["tenant"] == "acme"
        assert status.structured_content["queue"]["tasks"]["length"] == 1
    assert await real_redis.hexists(keyspace.tenant("acme").ledger, task_id)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def http_server(real_redis: aioredis.Redis, keyspace: Keyspace) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, *chimera_args(keyspace, "--transport", "http", "--port", str(port))],
        env={**os.environ, **TOKENS},
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    line = process.stderr.readline()
    assert line.strip() == f"serving support-desk on http://127.0.0.1:{port}/mcp", line
    yield f"http://127.0.0.1:{port}/mcp"
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0
    rest = process.stderr.read()
    assert TOKENS["CHIMERA_MCP_TOKEN_ACME"] not in rest


async def tool(url: str, token: str, name: str, **arguments: Any) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        return await client.call_tool(name, arguments)


async def test_mcp_serve_over_http_keeps_tenants_apart(http_server: str) -> None:
    acme, globex = TOKENS["CHIMERA_MCP_TOKEN_ACME"], TOKENS["CHIMERA_MCP_TOKEN_GLOBEX"]
    reply = {"customer": "Dana", "topic": "refund"}
    submitted = await tool(http_server, acme, "submit_task", skill="draft_reply", input=reply)
    task_id = submitted.structured_content["task_id"]
    mine = await tool(http_server, acme, "get_task", task_id=task_id)
    assert mine.structured_content["state"] == "pending"
    theirs = await tool(http_server, globex, "get_task", task_id=task_id)
    assert theirs.structured_content == {"task_id": task_id, "state": "unknown"}
    results = await tool(http_server, globex, "list_results")
    assert results.structured_content == {"results": []}


def test_mcp_serve_over_stdio_stops_on_sigterm(
    real_redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    process = subprocess.Popen(
        [sys.executable, *chimera_args(keyspace, "--tenant", "acme")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    hello = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    process.stdin.write((json.dumps(hello) + "\n").encode())
    process.stdin.flush()
    assert process.stdout.readline()  # serving: it answered
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0


def test_mcp_serve_on_a_port_in_use(real_redis: aioredis.Redis, keyspace: Keyspace) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, *chimera_args(keyspace, "--transport", "http", "--port", str(port))],
            env={**os.environ, **TOKENS},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert (
        result.stderr.strip() == f"error: cannot serve on 127.0.0.1:{port}: Address already in use"
    )


def test_mcp_tools_without_servers(tmp_path: Path) -> None:
    write_swarm(tmp_path, skills=[{**ECHO_SKILL, "backend": "mock"}])
    swarm = tmp_path / "swarm.yaml"
    result = CliRunner().invoke(cli, ["mcp", "tools", str(swarm)])
    assert result.exit_code == 0
    assert result.stdout == f"{swarm}: no mcp_servers\n"
    listed = CliRunner().invoke(cli, ["mcp", "tools", str(swarm), "--json"])
    assert json.loads(listed.stdout) == {"tenant": None, "servers": [], "problems": []}
