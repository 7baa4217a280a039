"""``chimera status``: per-tenant figures of a shared Redis."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from chimera.bootstrap import Runtime
from chimera.cli.commands_config import SWARM_ARG
from chimera.cli.errors import FAULT, fail, lacking, reports_input_errors
from chimera.cli.options import distributed_redis, json_option, prefix_option, tenant_filter
from chimera.cli.render import console
from chimera.cli.runtime import with_runtime
from chimera.cli.status_view import process_rows, status_row, status_tables
from chimera.cli.status_watch import watch_status
from chimera.config.fingerprint import swarm_fingerprint


@click.command()
@SWARM_ARG
@distributed_redis
@prefix_option
@tenant_filter
@click.option("--watch", is_flag=True, help="Refresh a live view until Ctrl-C.")
@click.option(
    "--interval",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.1),
    help="Seconds between refreshes with --watch.",
)
@json_option
@reports_input_errors
def status(
    swarm: Path,
    redis_url: str,
    prefix: str,
    tenant: str | None,
    watch: bool,
    interval: float,
    as_json: bool,
) -> None:
    """Per tenant: live workers and judges, throughput, backlogs, outcomes; then the processes.

    Workers and judges are counted by their heartbeats (every `chimera worker` refreshes
    one), each with the configuration it runs: `config` says whether it is this file's.
    Rate and p95 cover the last minute as the processes saw it. `throttled` names the quota
    holding a tenant back now (rate or in_flight); --json rows also count its cancelled
    tasks and the LLM tokens of its Results this UTC day (`tokens_today`). A tenant whose
    keys the Redis user may not read is shown as `no permission`; asked for that tenant
    alone (--tenant), the command fails with one line saying so (exit 1). --watch refreshes
    every second (--json: one JSON line per refresh).
    """

    async def snapshot(runtime: Runtime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        statuses = await runtime.status().tenants(tenant)
        fingerprint = swarm_fingerprint(runtime.swarm)
        return [status_row(s, fingerprint) for s in statuses], process_rows(statuses)

    async def body(runtime: Runtime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        if not watch:
            return await snapshot(runtime)
        await watch_status(lambda: snapshot(runtime), interval, as_json)
        return [], []

    rows, processes = with_runtime(swarm, redis_url, prefix, body)
    if watch:
        return
    if tenant is not None and rows and rows[0]["access"] != "ok":
        # Asked for one tenant and refused: that is the answer, not a row of blanks.
        denied = f"no permission to read tenant {tenant!r}: {rows[0]['error']}"
        fail([f"error: {denied}{lacking(prefix, [tenant])}"], FAULT)
    if as_json:
        click.echo(json.dumps({"tenants": rows, "processes": processes}))
    else:
        console().print(status_tables(rows, processes))


def register(group: click.Group) -> None:
    """Add this module's commands to ``group``."""
    group.add_command(status)
