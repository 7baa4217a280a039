"""``chimera gc``: apply swarm.yaml's ``retention:`` block once, now."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import click

from chimera.bootstrap import Runtime
from chimera.cli.commands_config import SWARM_ARG
from chimera.cli.errors import FAULT, reports_input_errors
from chimera.cli.options import distributed_redis, json_option, prefix_option, tenant_filter
from chimera.cli.render import print_table
from chimera.cli.runtime import with_runtime
from chimera.services.retention import KINDS, SweepReport


@click.command()
@SWARM_ARG
@distributed_redis
@prefix_option
@tenant_filter
@click.option("--dry-run", is_flag=True, help="Count what would be removed; change nothing.")
@click.option("--actor", default=lambda: getpass.getuser(), show_default="current user")
@json_option
@reports_input_errors
def gc(
    swarm: Path,
    redis_url: str,
    prefix: str,
    tenant: str | None,
    dry_run: bool,
    actor: str,
    as_json: bool,
) -> None:
    """Trim what swarm.yaml's `retention:` lets go, now, and print what went per kind.

    The same sweep the Workers run every `retention.sweep_every`: committed results,
    settled marks, finished sessions, dead letters, audit records (behind a checkpoint
    record, so `chimera audit --verify` still proves what is kept) and acknowledged
    stream entries. Nothing still needed goes: a live task, a pending review, an entry
    not yet acknowledged. A tenant another process is sweeping is skipped (exit 1).
    """

    async def body(runtime: Runtime) -> list[SweepReport]:
        names = [tenant] if tenant else runtime.swarm.tenants
        runtime.scope.check(names)
        return await runtime.retention(f"gc:{actor}", names).sweep(dry_run=dry_run)

    reports = with_runtime(swarm, redis_url, prefix, body)
    if as_json:
        rows = [
            {"tenant": r.tenant, "swept": r.swept, "dry_run": dry_run, "removed": r.removed}
            for r in reports
        ]
        click.echo(json.dumps({"tenants": rows}))
    else:
        title = "Would remove (dry run)" if dry_run else "Removed"
        rows = [
            {"tenant": r.tenant, **{k: r.removed.get(k, "-") if r.swept else "busy" for k in KINDS}}
            for r in reports
        ]
        print_table(title, rows, ["tenant", *KINDS])
    busy = [r.tenant for r in reports if not r.swept]
    if busy:
        click.echo(f"skipped (another process is sweeping): {', '.join(busy)}", err=True)
        raise SystemExit(FAULT)


def register(group: click.Group) -> None:
    """Add this module's commands to ``group``."""
    group.add_command(gc)
