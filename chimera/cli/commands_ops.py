"""``chimera submit``, ``status`` and ``results``: the distributed side, against a shared Redis."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from chimera.bootstrap import Runtime
from chimera.cli.commands_config import SWARM_ARG
from chimera.cli.errors import FAULT, InputError, fail, lacking, reports_input_errors
from chimera.cli.jsonl import input_object, read_submissions
from chimera.cli.observability import Observing, trace_option
from chimera.cli.options import distributed_redis, json_option, prefix_option, tenant_filter
from chimera.cli.render import console, print_table
from chimera.cli.runtime import with_runtime
from chimera.cli.status_view import process_rows, status_row, status_tables
from chimera.cli.status_watch import watch_status
from chimera.config.fingerprint import swarm_fingerprint
from chimera.services.planner import Submission


@click.command()
@SWARM_ARG
@distributed_redis
@prefix_option
@click.option("--tenant", help="Tenant of the task(s).")
@click.option("--skill", help="Skill to run.")
@click.option("--input", "input_json", help="Task input as a JSON object.")
@click.option(
    "--file",
    "input_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSONL of {tenant, skill, input[, session]}; --tenant/--skill fill missing fields.",
)
@click.option("--session", help="Session id (default: a new one per call).")
@trace_option
@json_option
@reports_input_errors
def submit(
    swarm: Path,
    redis_url: str,
    prefix: str,
    tenant: str | None,
    skill: str | None,
    input_json: str | None,
    input_file: Path | None,
    session: str | None,
    trace: bool | None,
    as_json: bool,
) -> None:
    """Validate tasks and enqueue them for `chimera worker` processes; print their ids.

    Either one task (--tenant, --skill, --input) or many (--file, submitted in batches).
    Nothing is enqueued unless every task is valid.
    """
    if input_file is None:
        if not (tenant and skill and input_json is not None):
            raise InputError("give --tenant, --skill and --input, or --file")
        items = [Submission(tenant, skill, input_object(input_json), where="--input")]
    else:
        defaults = {k: v for k, v in {"tenant": tenant, "skill": skill}.items() if v}
        items = read_submissions(input_file, defaults)

    async def body(runtime: Runtime) -> list[dict[str, Any]]:
        # Each task's trace starts here (a PRODUCER span) when tracing is on.
        with Observing(runtime.swarm, trace):
            tasks = await runtime.planner().submit(items, session)
        return [
            {"task_id": t.id, "tenant": t.tenant, "session": t.session, "skill": t.skill}
            for t in tasks
        ]

    submitted = with_runtime(swarm, redis_url, prefix, body)
    if as_json:
        click.echo(json.dumps({"submitted": submitted}))
    else:
        for row in submitted:
            click.echo(row["task_id"])


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
    Rate and p95 cover the last minute as the processes saw it. A tenant whose keys the
    Redis user may not read is shown as `no permission`; asked for that tenant alone
    (--tenant), the command fails with one line saying so (exit 1). --watch refreshes every
    second (--json: one JSON line per refresh).
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


@click.command()
@SWARM_ARG
@distributed_redis
@prefix_option
@tenant_filter
@click.option("--session", help="Only this session.")
@json_option
@reports_input_errors
def results(
    swarm: Path, redis_url: str, prefix: str, tenant: str | None, session: str | None, as_json: bool
) -> None:
    """List committed results (one JSON object per line with --json)."""

    async def body(runtime: Runtime) -> list[dict[str, Any]]:
        found = await runtime.results().list(tenant, session)
        return [json.loads(result.model_dump_json()) for result in found]

    rows = with_runtime(swarm, redis_url, prefix, body)
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
        return
    table = [
        {
            "tenant": r["tenant"],
            "session": r["session"],
            "skill": r["skill"],
            "task_id": r["task_id"],
            "confidence": r["confidence"],
            "output": json.dumps(r["output"])[:80],
        }
        for r in rows
    ]
    print_table(
        "Committed results",
        table,
        ["tenant", "session", "skill", "task_id", "confidence", "output"],
    )


def register(group: click.Group) -> None:
    """Add this module's commands to ``group``."""
    group.add_command(submit)
    group.add_command(status)
    group.add_command(results)
