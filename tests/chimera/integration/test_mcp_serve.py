"""The swarm served over MCP, driven by the SDK's own client, against a real Redis.

In-process: the server object through the SDK's in-memory transport (bound to a tenant, as
the stdio server is), and over streamable HTTP on a real port with per-tenant bearer tokens.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import redis.asyncio as aioredis
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client

from chimera.bootstrap import Runtime, build_runtime
from chimera.client import Client as ChimeraClient
from chimera.config.loader import load_swarm
from chimera.lib.keys import Keyspace
from chimera.lib.mcp import McpToolbox
from chimera.lib.mcp.serve import bound_tenant, build_server, serve_http, token_tenant
from chimera.lib.mcp.tenant_tokens import TenantTokenVerifier
from chimera.models.llm import ToolSpec
from chimera.models.mcp_config import McpServerConfig, TenantMcpOverride
from chimera.ports.tools import ToolBinding, ToolUnavailable
from chimera.services.judge import JudgeSettings
from chimera.services.worker import WorkerSettings
from tests.chimera.helpers import Running, eventually
from tests.conftest import REDIS_URL

REPO = Path(__file__).resolve().parents[3]
TOKENS = {"acme": "acme-token-0123456789", "globex": "globex-token-0123456789"}
REPLY = {"customer": "Dana", "topic": "refund of a duplicate charge"}


@pytest.fixture
async def runtime(real_redis: aioredis.Redis, keyspace: Keyspace) -> AsyncIterator[Runtime]:
    swarm = load_swarm(REPO / "swarm.yaml")
    runtime = await build_runtime(swarm, REDIS_URL, keyspace.prefix)
    yield runtime
    await runtime.close()


def client_for(runtime: Runtime, tenant: str) -> Client:
    server = build_server(runtime.swarm, runtime.tenant_api, bound_tenant(tenant))
    return Client(server, raise_exceptions=True)


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


async def refused(client: Client, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error
    text: str = result.content[0].text  # type: ignore[union-attr]
    return text


async def park_for_review(runtime: Runtime, client: Client) -> str:
    """Submit the sensitive draft_reply through MCP and run it until a human must decide."""
    submitted = await call(client, "submit_task", skill="draft_reply", input=REPLY)
    task_id: str = submitted["task_id"]
    assert (await call(client, "get_task", task_id=task_id))["state"] == "pending"
    worker = runtime.worker(settings=WorkerSettings(block_ms=20))
    judge = runtime.judge(settings=JudgeSettings(block_ms=20))
    async with Running(worker, judge):

        async def parked() -> bool:
            return (await call(client, "get_task", task_id=task_id))["state"] == "review"

        await eventually(parked, within=20)
    return task_id


async def test_submit_review_and_decide_for_one_tenant(runtime: Runtime) -> None:
    async with client_for(runtime, "acme") as acme:
        tools = sorted(t.name for t in (await acme.list_tools()).tools)
        assert tools == [
            "decide_review",
            "get_task",
            "list_results",
            "list_reviews",
            "submit_task",
            "swarm_status",
        ]
        task_id = await park_for_review(runtime, acme)
        waiting = (await call(acme, "list_reviews"))["reviews"]
        assert [(r["task_id"], r["skill"], r["input"]) for r in waiting] == [
            (task_id, "draft_reply", REPLY)
        ]
        unexplained = await refused(acme, "decide_review", task_id=task_id, approve=False)
        assert "a rejection needs a note saying why" in unexplained
        decided = await call(acme, "decide_review", task_id=task_id, approve=True, note="fine")
        assert decided == {"task_id": task_id, "outcome": "committed"}
        done = await call(acme, "get_task", task_id=task_id)
        assert done["state"] == "committed"
        assert done["result"]["task_id"] == task_id
        assert set(done["result"]["output"]) >= {"subject", "body"}
        results = (await call(acme, "list_results"))["results"]
        assert [r["task_id"] for r in results] == [task_id]
        status = await call(acme, "swarm_status")
        assert (status["tenant"], status["queue"]["committed"]) == ("acme", 1)
        assert await call(acme, "list_reviews") == {"reviews": []}


async def test_another_tenant_sees_and_decides_nothing_of_it(runtime: Runtime) -> None:
    async with client_for(runtime, "acme") as acme, client_for(runtime, "globex") as globex:
        task_id = await park_for_review(runtime, acme)
        assert await call(globex, "get_task", task_id=task_id) == {
            "task_id": task_id,
            "state": "unknown",
        }
        assert await call(globex, "list_reviews") == {"reviews": []}
        message = await refused(globex, "decide_review", task_id=task_id, approve=True)
        assert "no result waits for review" in message
        assert (await call(acme, "get_task", task_id=task_id))["state"] == "review"
        forbidden = await refused(globex, "submit_task", skill="draft_reply", input=REPLY)
        assert "tenant 'globex' may not run skill 'draft_reply'" in forbidden
        assert (await call(globex, "swarm_status"))["queue"]["review"] == 0


async def test_skills_are_resources_of_the_tenants_that_run_them(runtime: Runtime) -> None:
    async with client_for(runtime, "acme") as acme, client_for(runtime, "globex") as globex:
        acme_uris = sorted(str(r.uri) for r in (await acme.list_resources()).resources)
        assert acme_uris == [
            "chimera://skills/answer_order",
            "chimera://skills/answer_question",
            "chimera://skills/check_refund",
            "chimera://skills/classify",
            "chimera://skills/compose_reply",
            "chimera://skills/draft_reply",
            "chimera://skills/summarise",
        ]
        globex_uris = sorted(str(r.uri) for r in (await globex.list_resources()).resources)
        assert globex_uris == ["chimera://skills/classify", "chimera://skills/summarise"]
        read = await acme.read_resource("chimera://skills/draft_reply")
        text = read.contents[0].text  # type: ignore[union-attr]
        assert '"sensitive": true' in text
        assert '"input_schema"' in text
        with pytest.raises(MCPError, match="no resource"):
            await globex.read_resource("chimera://skills/draft_reply")


async def test_bad_submissions_are_explained(runtime: Runtime) -> None:
    async with client_for(runtime, "acme") as acme:
        bad = await refused(acme, "submit_task", skill="classify", input={"subject": 3})
        assert "input does not match skill 'classify'" in bad
        unknown = await refused(acme, "submit_task", skill="translate", input={})
        assert "unknown skill 'translate'" in unknown
        assert (await call(acme, "get_task", task_id="not-a-task"))["state"] == "unknown"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
async def http_url(runtime: Runtime) -> AsyncIterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    verifier = TenantTokenVerifier(TOKENS)
    server = build_server(runtime.swarm, runtime.tenant_api, token_tenant, (verifier, base))
    stop = asyncio.Event()
    ready = asyncio.Event()
    serving = asyncio.create_task(serve_http(server, "127.0.0.1", port, stop, ready.set))
    await asyncio.wait_for(ready.wait(), 20)
    yield f"{base}/mcp"
    stop.set()
    await asyncio.wait_for(serving, 20)


def http_client(url: str, http: httpx2.AsyncClient) -> Client:
    return Client(streamable_http_client(url, http_client=http))


def bearer(token: str) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)


async def test_http_tokens_scope_every_answer_to_their_tenant(
    runtime: Runtime, http_url: str
) -> None:
    async with bearer(TOKENS["acme"]) as http, http_client(http_url, http) as acme:
        task_id = await park_for_review(runtime, acme)
        assert len((await call(acme, "list_reviews"))["reviews"]) == 1
    async with bearer(TOKENS["globex"]) as http, http_client(http_url, http) as globex:
        assert (await call(globex, "get_task", task_id=task_id))["state"] == "unknown"
        assert await call(globex, "list_reviews") == {"reviews": []}
        message = await refused(globex, "decide_review", task_id=task_id, approve=True)
        assert "no result waits for review" in message
        assert (await call(globex, "swarm_status"))["tenant"] == "globex"
    async with bearer(TOKENS["acme"]) as http, http_client(http_url, http) as acme:
        decided = await call(acme, "decide_review", task_id=task_id, approve=False, note="no")
        assert decided["outcome"] == "denied"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-a-tenant-token-123"}])
async def test_http_refuses_requests_without_a_tenant_token(
    http_url: str, headers: dict[str, str]
) -> None:
    async with httpx2.AsyncClient(timeout=30) as http:
        response = await http.post(
            http_url,
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={**headers, "Accept": "application/json, text/event-stream"},
        )
    assert response.status_code == 401
    assert "invalid_token" in response.text


async def test_the_toolbox_reaches_an_http_server_with_each_tenants_headers(
    http_url: str,
) -> None:
    servers = {"swarm": McpServerConfig(url=http_url, call_timeout_s=30)}
    overrides = {
        tenant: {"swarm": TenantMcpOverride(headers={"Authorization": f"Bearer {token}"})}
        for tenant, token in TOKENS.items()
    }
    toolbox = McpToolbox(servers, overrides)
    status = ToolBinding(spec=ToolSpec(name="swarm_status"), server="swarm", tool="swarm_status")
    answers = await asyncio.gather(
        *(toolbox.call(status, {}, tenant) for tenant in ["acme", "globex", "acme"])
    )
    assert [a.structured["tenant"] for a in answers] == ["acme", "globex", "acme"]  # type: ignore[index]
    assert toolbox.session("swarm", "acme").opened == 1
    with pytest.raises(ToolUnavailable, match="swarm: cannot connect"):
        await toolbox.tools("swarm", "initech")  # no override: no token, refused
    await toolbox.aclose()


async def test_get_task_shows_a_cancelled_task(runtime: Runtime) -> None:
    async with client_for(runtime, "acme") as acme:
        submitted = await call(
            acme, "submit_task", skill="summarise", input={"customer": "A", "message": "m"}
        )
        task_id = submitted["task_id"]
        await ChimeraClient.of(runtime, actor="ops").cancel(task_id, reason="sent twice")
        found = await call(acme, "get_task", task_id=task_id)
    assert found == {
        "task_id": task_id,
        "state": "cancelled",
        "cancelled_by": "human:ops",
        "cancel_reason": "sent twice",
    }
