"""``chimera review`` and ``chimera audit``: human decisions and the audit trail."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Any

import click

from chimera.bootstrap import Runtime
from chimera.cli.commands_config import SWARM_ARG
from chimera.cli.errors import FAULT, reports_input_errors
from chimera.cli.options import distributed_redis, json_option, prefix_option, tenant_listing
from chimera.cli.render import print_table
from chimera.cli.runtime import with_runtime
from chimera.models.audit import ChainCheck

actor_option = click.option(
    "--actor",
    default=lambda: getpass.getuser(),
    show_default="current user",
    help="Who decides; recorded in the audit trail.",
)


@click.group()
def review() -> None:
    """List Results waiting for human review, and approve or reject them."""


@review.command("list")
@tenant_listing
def review_list(
    swarm: Path, redis_url: str, prefix: str, tenant: str | None, as_json: bool
) -> None:
    """List the Results waiting for a human."""

    async def body(runtime: Runtime) -> list[dict[str, Any]]:
        items = await runtime.review().pending(tenant)
        return [
            {
                "task_id": item.task.id,
                "tenant": name,
                "session": item.task.session,
                "skill": item.task.skill,
                "confidence": item.result.confidence,
                "reason": item.decision.reason,
                "output": item.result.output,
            }
            for name, item in items
        ]

    rows = with_runtime(swarm, redis_url, prefix, body)
    if as_json:
        click.echo(json.dumps({"review": rows}))
        return
    table = [{**r, "output": json.dumps(r["output"])[:60]} for r in rows]
    print_table(
        "Waiting for review",
        table,
        ["task_id", "tenant", "skill", "confidence", "reason", "output"],
    )


def _decide(
    swarm: Path,
    redis_url: str,
    prefix: str,
    task_id: str,
    approve: bool,
    actor: str,
    note: str | None,
) -> None:
    async def body(runtime: Runtime) -> str:
        decision = await runtime.review().decide(task_id, approve, actor, note)
        return decision.outcome

    outcome = with_runtime(swarm, redis_url, prefix, body)
    click.echo(f"{task_id}: {outcome}")


@review.command("approve")
@SWARM_ARG
@click.argument("task_id")
@distributed_redis
@prefix_option
@actor_option
@click.option("--note", help="Why; recorded in the audit trail.")
@reports_input_errors
def review_approve(
    swarm: Path, task_id: str, redis_url: str, prefix: str, actor: str, note: str | None
) -> None:
    """Commit the Result of TASK_ID that waits for review (exactly once, audited)."""
    _decide(swarm, redis_url, prefix, task_id, True, actor, note)


@review.command("reject")
@SWARM_ARG
@click.argument("task_id")
@distributed_redis
@prefix_option
@actor_option
@click.option("--reason", required=True, help="Why; recorded in the audit trail.")
@reports_input_errors
def review_reject(
    swarm: Path, task_id: str, redis_url: str, prefix: str, actor: str, reason: str
) -> None:
    """Deny the Result of TASK_ID that waits for review (audited; nothing is committed)."""
    _decide(swarm, redis_url, prefix, task_id, False, actor, reason)


@click.command()
@SWARM_ARG
@distributed_redis
@prefix_option
@click.option("--tenant", required=True, help="Whose audit trail.")
@click.option(
    "--verify", is_flag=True, help="Check the hash chain; exit 1 naming the first broken entry."
)
@click.option("--limit", default=50, show_default=True, help="Show the last N events (0: all).")
@json_option
@reports_input_errors
def audit(
    swarm: Path, redis_url: str, prefix: str, tenant: str, verify: bool, limit: int, as_json: bool
) -> None:
    """List a tenant's audit events and, with --verify, check their hash chain."""

    async def body(runtime: Runtime) -> ChainCheck:
        return await runtime.audit_trail().read(tenant, verify)

    check = with_runtime(swarm, redis_url, prefix, body)
    shown = check.records[-limit:] if limit else check.records
    if as_json:
        click.echo(
            json.dumps(
                {
                    "tenant": tenant,
                    "records": len(check.records),
                    "verified": verify and check.ok,
                    "broken_at": check.broken_at,
                    "problem": check.problem,
                    "events": [json.loads(r.model_dump_json()) for r in shown],
                }
            )
        )
    else:
        rows = [
            {
                "seq": r.seq,
                "at": r.event.at.isoformat(timespec="milliseconds"),
                "type": r.event.type.value,
                "task_id": r.event.task_id,
                "actor": r.event.actor,
                "detail": json.dumps(r.event.data)[:70],
            }
            for r in shown
        ]
        print_table(
            f"Audit trail of {tenant}", rows, ["seq", "at", "type", "task_id", "actor", "detail"]
        )
        if verify and check.ok:
            click.echo(f"chain verified: {len(check.records)} records")
    if verify and not check.ok:
        click.echo(f"audit chain broken at seq {check.broken_at}: {check.problem}", err=True)
        raise SystemExit(FAULT)


def register(group: click.Group) -> None:
    """Add this module's commands to ``group``."""
    group.add_command(review)
    group.add_command(audit)
