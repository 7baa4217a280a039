"""``chimera mcp tools`` and ``chimera mcp serve``: the swarm's MCP servers, and the swarm as one.

The MCP SDK is imported inside the commands: it takes most of a second to import, which
the other commands should not pay.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import click

from chimera.cli.commands_config import SWARM_ARG
from chimera.cli.errors import InputError, reports_input_errors
from chimera.cli.options import distributed_redis, json_option, prefix_option
from chimera.cli.render import print_table
from chimera.cli.runtime import run_async, with_runtime
from chimera.cli.signals import exit_on_signals, stop_on_signals
from chimera.config.swarm import Swarm
from chimera.services.tenants import TenantScope

#: Exit code of ``mcp tools`` when a server is unreachable or lacks a tool a skill names:
#: the files are valid (that would be 2) but the servers disagree with them.
MISMATCH = 1


@click.group()
def mcp() -> None:
    """List the tools of SWARM's MCP servers, or serve the swarm to MCP clients."""


@mcp.command("tools")
@SWARM_ARG
@click.option("--tenant", help="Connect with this tenant's env/headers; check only its skills.")
@click.option("--server", "only", multiple=True, help="Only this server (repeatable).")
@json_option
@reports_input_errors
def tools(swarm: Path, tenant: str | None, only: tuple[str, ...], as_json: bool) -> None:
    """Connect to each MCP server of SWARM and list its tools with their input schemas.

    Exits 1, naming each one, when a server cannot be reached, does not offer a tool its
    allow-list names, or does not offer a tool a skill names; 2 on configuration errors.
    """
    from chimera.cli.loading import load_for_cli
    from chimera.cli.mcp_report import ToolsReport

    loaded = load_for_cli(swarm)
    if tenant is not None:
        TenantScope(loaded.tenants).check([tenant])
    unknown = sorted(set(only) - set(loaded.config.mcp_servers))
    if unknown:
        known = ", ".join(loaded.config.mcp_servers) or "none"
        raise InputError(f"unknown MCP server {unknown[0]!r} (known: {known})")
    names = list(only) or list(loaded.config.mcp_servers)
    if not names and not as_json:
        click.echo(f"{swarm}: no mcp_servers")
        return
    report = run_async(ToolsReport.collect(loaded, names, tenant))
    if as_json:
        click.echo(json.dumps(report.as_json()))
    else:
        for server in report.servers:
            print_table(
                server.title,
                server.rows(),
                ["tool", "allowed", "sensitive", "timeout_s", "arguments", "description"],
            )
    for problem in report.problems:
        click.echo(problem, err=True)
    if report.problems:
        raise SystemExit(MISMATCH)


@mcp.command("serve")
@SWARM_ARG
@click.option(
    "--transport",
    type=click.Choice(["stdio", "http"]),
    default="stdio",
    show_default=True,
    help="stdio: for one tenant, started by an MCP client. http: streamable HTTP with a "
    "bearer token per tenant (CHIMERA_MCP_TOKEN_<TENANT>).",
)
@click.option(
    "--tenant",
    help="stdio: the tenant served (needed when the swarm has several). "
    "http: accept only this tenant's token.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="http: address to bind.")
@click.option("--port", default=8000, show_default=True, type=int, help="http: port to bind.")
@distributed_redis
@prefix_option
@reports_input_errors
def serve(
    swarm: Path,
    transport: str,
    tenant: str | None,
    host: str,
    port: int,
    redis_url: str,
    prefix: str,
) -> None:
    """Serve SWARM to MCP clients: submit and follow tasks, decide reviews, see status.

    Tools: submit_task, get_task, list_results, list_reviews, decide_review, swarm_status;
    a resource per skill (chimera://skills/NAME). Every answer is scoped to one tenant.
    """
    from chimera.cli.loading import load_for_cli

    loaded = load_for_cli(swarm)
    if tenant is not None:
        TenantScope(loaded.tenants).check([tenant])
    if transport == "stdio":
        tenant = _stdio_tenant(loaded, tenant)
        auth = None
    else:
        auth = _http_auth(loaded, tenant, host, port)

    async def body(runtime: Any) -> None:
        from chimera.lib.mcp import serve as surface

        apis: dict[str, Any] = {}

        def api_for(name: str) -> Any:
            if name not in apis:
                apis[name] = runtime.tenant_api(name)
            return apis[name]

        if auth is None:
            assert tenant is not None
            server = surface.build_server(runtime.swarm, api_for, surface.bound_tenant(tenant))
            exit_on_signals()
            await surface.serve_stdio(server)
            return
        stop = asyncio.Event()
        stop_on_signals(stop)
        server = surface.build_server(runtime.swarm, api_for, surface.token_tenant, auth)

        def ready() -> None:
            click.echo(f"serving {loaded.config.name} on http://{host}:{port}/mcp", err=True)

        try:
            await surface.serve_http(server, host, port, stop, ready)
        except OSError as exc:
            raise InputError(str(exc)) from None

    with_runtime(swarm, redis_url, prefix, body, role="mcp")


def _stdio_tenant(swarm: Swarm, tenant: str | None) -> str:
    if tenant is not None:
        return tenant
    if len(swarm.tenants) == 1:
        return swarm.tenants[0]
    raise InputError(
        f"--tenant is required with --transport stdio (tenants: {', '.join(swarm.tenants)})"
    )


def _http_auth(swarm: Swarm, tenant: str | None, host: str, port: int) -> Any:
    from chimera.lib.mcp.tenant_tokens import (
        TenantTokenVerifier,
        TokenError,
        token_variable,
        tokens_from_env,
    )

    try:
        tokens = tokens_from_env(swarm.tenants, os.environ)
    except TokenError as exc:
        raise InputError(str(exc)) from None
    if tenant is not None:
        tokens = {name: token for name, token in tokens.items() if name == tenant}
    if not tokens:
        wanted = [tenant] if tenant else swarm.tenants
        variables = ", ".join(token_variable(name) for name in wanted)
        raise InputError(f"no tenant token is set; set {variables}")
    return TenantTokenVerifier(tokens), f"http://{host}:{port}"


def register(group: click.Group) -> None:
    """Add this module's commands to ``group``."""
    group.add_command(mcp)
