"""The swarm as an MCP server: tools to submit and follow tasks, decide reviews, see status.

Every request is answered for one tenant: the tenant the stdio server was started for, or
the tenant whose bearer token came with the HTTP request. Tools and resources only ever
reach that tenant's :class:`~chimera.services.tenant_api.TenantApi`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import socket
from collections.abc import Callable, Iterator
from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError
from mcp.server.mcpserver.resources import FunctionResource
from pydantic import AnyHttpUrl, Field

from chimera.config.swarm import Swarm
from chimera.lib.mcp.tenant_tokens import TENANT_SCOPE, TenantTokenVerifier
from chimera.ports.stores import ReviewItem, TaskStatus
from chimera.services.tenant_api import ApiError, TenantApi

SKILL_URI_PREFIX = "chimera://skills/"

TenantOf = Callable[[], str]
ApiFor = Callable[[str], TenantApi]


def bound_tenant(tenant: str) -> TenantOf:
    """Every request is ``tenant``'s (the stdio server, started for one tenant)."""
    return lambda: tenant


def token_tenant() -> str:
    """The tenant whose bearer token came with this HTTP request.

    Raises:
        ToolError: no authenticated tenant (the HTTP layer normally refuses such requests).
    """
    token = get_access_token()
    if token is None or TENANT_SCOPE not in token.scopes:
        raise ToolError("not authenticated: send a tenant's bearer token")
    return token.client_id


class _ScopedServer(MCPServer[Any]):
    """An ``MCPServer`` whose resources are listed and read only for their own tenant."""

    def __init__(self, visible: Callable[[str], bool], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._visible = visible

    async def list_resources(self) -> Any:
        """Resources of the calling tenant only."""
        return [r for r in await super().list_resources() if self._visible(str(r.uri))]

    async def read_resource(self, uri: Any, context: Any = None) -> Any:
        """Read a resource of the calling tenant; any other reads as not found."""
        if not self._visible(str(uri)):
            raise ResourceNotFoundError(f"no resource {uri}")
        return await super().read_resource(uri, context)


def build_server(
    swarm: Swarm,
    api_for: ApiFor,
    tenant_of: TenantOf,
    auth: tuple[TenantTokenVerifier, str] | None = None,
) -> MCPServer[Any]:
    """The swarm's MCP server.

    Args:
        swarm: the loaded swarm.
        api_for: the tenant's API, given its name.
        tenant_of: who is calling (the bound tenant, or the token's).
        auth: for HTTP, the token verifier and the server's public base URL.
    """

    def api() -> TenantApi:
        return api_for(tenant_of())

    def visible(uri: str) -> bool:
        name = uri.removeprefix(SKILL_URI_PREFIX)
        try:
            return swarm.tenant_may_run(tenant_of(), name)
        except ToolError:
            return False

    settings: dict[str, Any] = {}
    if auth is not None:
        verifier, base_url = auth
        settings = {
            "token_verifier": verifier,
            "auth": AuthSettings(
                issuer_url=AnyHttpUrl(base_url),
                resource_server_url=AnyHttpUrl(f"{base_url}/mcp"),
                required_scopes=[TENANT_SCOPE],
                validate_token_resource=False,  # static tokens: the verifier is the check
            ),
        }
    server = _ScopedServer(
        visible,
        name=f"chimera {swarm.config.name}",
        instructions=(
            "Run this swarm's skills: submit_task, then get_task until it is committed, "
            "denied, dead-lettered or waiting in review (list_reviews, decide_review). "
            "Each skill's input and output schema is a resource."
        ),
        log_level="WARNING",
        **settings,
    )
    _add_tools(server, api)
    _add_skill_resources(server, swarm, api)
    return server


def _add_tools(server: MCPServer[Any], api: Callable[[], TenantApi]) -> None:
    @server.tool()
    async def submit_task(
        skill: Annotated[str, Field(description="A skill your tenant may run.")],
        input: Annotated[dict[str, Any], Field(description="Input matching its input_schema.")],
        session: Annotated[
            str | None, Field(description="Session to group tasks in (default: a new one).")
        ] = None,
    ) -> dict[str, Any]:
        """Validate a task against the skill's input schema and enqueue it; returns its id."""
        task = await _call(api().submit(skill, input, session))
        return {"task_id": task.id, "session": task.session, "skill": task.skill}

    @server.tool()
    async def get_task(
        task_id: Annotated[str, Field(description="An id submit_task returned.")],
    ) -> dict[str, Any]:
        """A task's state and, once there is one, its result.

        States: pending, review, committed, denied, dead_lettered, cancelled, unknown.
        """
        return _status(await api().task(task_id))

    @server.tool()
    async def list_results(
        session: Annotated[str | None, Field(description="Only this session.")] = None,
        limit: Annotated[int, Field(ge=1, le=500, description="Most results returned.")] = 20,
    ) -> dict[str, Any]:
        """The newest committed results of your tenant, oldest first."""
        results = await api().results(session, limit)
        return {"results": [r.model_dump(mode="json") for r in results]}

    @server.tool()
    async def list_reviews() -> dict[str, Any]:
        """Results of your tenant waiting for a human decision."""
        return {"reviews": [_review(item) for item in await api().reviews()]}

    @server.tool()
    async def decide_review(
        task_id: Annotated[str, Field(description="The task whose result waits for review.")],
        approve: Annotated[bool, Field(description="true commits the result; false rejects.")],
        note: Annotated[str | None, Field(description="Why; required to reject. Audited.")] = None,
        actor: Annotated[
            str, Field(max_length=100, description="Who decides, for the audit trail.")
        ] = "mcp-client",
    ) -> dict[str, Any]:
        """Approve (commit, exactly once) or reject a result parked for review; audited."""
        if not approve and not (note and note.strip()):
            raise ToolError("a rejection needs a note saying why")
        decision = await _call(api().decide(task_id, approve, f"{actor} (mcp)", note))
        return {"task_id": decision.task_id, "outcome": decision.outcome}

    @server.tool()
    async def swarm_status() -> dict[str, Any]:
        """Your tenant's queue: waiting and running tasks, retries, reviews, dead letters."""
        tenant_api = api()
        stats = await tenant_api.status()
        return {
            "swarm": tenant_api.swarm.config.name,
            "tenant": tenant_api.tenant,
            "skills": [s.name for s in tenant_api.skills()],
            "queue": dataclasses.asdict(stats),
        }


def _add_skill_resources(
    server: MCPServer[Any], swarm: Swarm, api: Callable[[], TenantApi]
) -> None:
    def reader(name: str) -> Callable[[], str]:
        def read() -> str:
            info = api().skill(name)
            return json.dumps(dataclasses.asdict(info), indent=2)

        return read

    for name in sorted(swarm.skills):
        skill = swarm.skill(name).config
        server.add_resource(
            FunctionResource(
                uri=SKILL_URI_PREFIX + name,
                name=name,
                title=f"Skill {name}",
                description=skill.description or f"The {name} skill: input and output schema.",
                mime_type="application/json",
                fn=reader(name),
            )
        )


async def _call(awaitable: Any) -> Any:
    try:
        return await awaitable
    except ApiError as exc:
        raise ToolError(str(exc)) from None


def _status(status: TaskStatus) -> dict[str, Any]:
    out: dict[str, Any] = {"task_id": status.task_id, "state": status.state.value}
    task = status.task
    if task is not None:
        out.update(skill=task.skill, session=task.session, attempt=task.attempt)
    if status.result is not None:
        out["result"] = status.result.model_dump(mode="json")
    if status.decision is not None:
        out["review_reason"] = status.decision.reason
    if status.cancellation is not None:
        out["cancelled_by"] = status.cancellation.actor
        out["cancel_reason"] = status.cancellation.reason
    return out


def _review(item: ReviewItem) -> dict[str, Any]:
    return {
        "task_id": item.task.id,
        "session": item.task.session,
        "skill": item.task.skill,
        "input": item.task.input,
        "output": item.result.output,
        "confidence": item.result.confidence,
        "reason": item.decision.reason,
    }


async def serve_http(
    server: MCPServer[Any],
    host: str,
    port: int,
    stop: asyncio.Event,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Serve ``server`` over streamable HTTP at ``http://host:port/mcp`` until ``stop`` is set.

    ``on_ready`` runs once the port accepts connections.

    Raises:
        OSError: the port cannot be bound (one line, naming host and port).

    The caller owns the signal handling (``stop``), so uvicorn's own, which re-raises the
    signal once it has shut down, is left out.
    """
    import uvicorn

    class _Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            if self.started and on_ready is not None:
                on_ready()

    app = server.streamable_http_app(host=host)
    web = _Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on"))

    async def watch() -> None:
        await stop.wait()
        web.should_exit = True

    listener = _listen(host, port)
    watcher = asyncio.create_task(watch())
    try:
        await web.serve(sockets=[listener])
    finally:
        watcher.cancel()
        listener.close()


def _listen(host: str, port: int) -> socket.socket:
    """Bind the port here: uvicorn would log its own error and exit the process."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from None
    return sock


async def serve_stdio(server: MCPServer[Any]) -> None:
    """Serve ``server`` on standard input and output until the client closes its input.

    The SDK reads stdin in a worker thread that nothing can interrupt, so this ends only at
    end of input; a signal must end the process itself (see ``chimera mcp serve``).
    """
    await server.run_stdio_async()
