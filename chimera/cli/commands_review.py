"""``chimera review`` and ``chimera audit``: human decisions and the audit trail."""

from __future__ import annotations

import getpass
import json
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
from click.decorators import FC

from chimera.bootstrap import Runtime
from chimera.cli.commands_config import SWARM_ARG
from chimera.cli.errors import FAULT, InputError, reports_input_errors
from chimera.cli.options import distributed_redis, json_option, prefix_option
from chimera.cli.render import print_table
from chimera.cli.review_render import list_row, print_item, show_json
from chimera.cli.runtime import with_client, with_runtime
from chimera.client import Client
from chimera.models.audit import ChainCheck
from chimera.models.types import utc_now
from chimera.ports.stores import ReviewItem
from chimera.services.review import HumanDecision, ReviewFilter

actor_option = click.option(
    "--actor",
    default=lambda: getpass.getuser(),
    show_default="current user",
    help="Who decides; recorded in the audit trail.",
)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(ctx: click.Context, param: click.Parameter, value: str | None) -> timedelta | None:
    """``90``, ``90s``, ``15m``, ``2h`` or ``1d`` as a :class:`~datetime.timedelta`."""
    if value is None:
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", value)
    if match is None:
        raise click.BadParameter(f"{value!r} is not a duration such as 90s, 15m, 2h or 1d")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2) or "s"])


def _filters(func: FC) -> FC:
    """``--tenant``, ``--skill``, ``--older-than``, ``--newer-than``."""
    for decorator in (
        click.option(
            "--newer-than",
            metavar="DURATION",
            callback=_duration,
            help="Only items parked at most this long (90s, 15m, 2h, 1d).",
        ),
        click.option(
            "--older-than",
            metavar="DURATION",
            callback=_duration,
            help="Only items parked at least this long (90s, 15m, 2h, 1d).",
        ),
        click.option("--skill", help="Only this skill."),
        click.option("--tenant", help="Only this tenant."),
    ):
        func = decorator(func)
    return func


@click.group()
def review() -> None:
    """Show, approve or reject Results waiting for a human (one, or many by filter)."""


@review.command("list")
@SWARM_ARG
@distributed_redis
@prefix_option
@_filters
@json_option
@reports_input_errors
def review_list(
    swarm: Path,
    redis_url: str,
    prefix: str,
    tenant: str | None,
    skill: str | None,
    older_than: timedelta | None,
    newer_than: timedelta | None,
    as_json: bool,
) -> None:
    """List the Results waiting for a human: input summary, age, confidence, the reason."""

    async def body(client: Client) -> list[dict[str, Any]]:
        items = await client.review.list(
            tenant=tenant, skill=skill, older_than=older_than, newer_than=newer_than
        )
        now = utc_now()
        return [list_row(name, item, now) for name, item in items]

    rows = with_client(swarm, redis_url, prefix, body)
    if as_json:
        click.echo(json.dumps({"review": rows}))
        return
    table = [{**r, "input": r["input_summary"]} for r in rows]
    print_table(
        "Waiting for review",
        table,
        ["task_id", "tenant", "skill", "age", "attempt", "confidence", "input", "reason"],
    )


@review.command("show")
@SWARM_ARG
@click.argument("task_id")
@distributed_redis
@prefix_option
@json_option
@reports_input_errors
def review_show(swarm: Path, task_id: str, redis_url: str, prefix: str, as_json: bool) -> None:
    """Everything about the Result of TASK_ID that waits for review.

    Input, prompt, output, confidence, the Judge's reason, earlier attempts and their
    feedback, and (for a sensitive tool call) the calls proposed.
    """

    async def body(client: Client) -> tuple[str, ReviewItem, int]:
        tenant, item = await client.review.show(task_id)
        return tenant, item, client.runtime.attempt_budget(item.task)

    tenant, item, budget = with_client(swarm, redis_url, prefix, body)
    if as_json:
        click.echo(json.dumps(show_json(tenant, item, budget, utc_now())))
    else:
        print_item(tenant, item, budget, utc_now())


def _decide(
    swarm: Path,
    redis_url: str,
    prefix: str,
    actor: str,
    decide: Callable[[Client], Awaitable[list[HumanDecision]]],
    as_json: bool,
) -> None:
    decided = with_client(swarm, redis_url, prefix, decide, actor=actor)
    if as_json:
        rows = [
            {"task_id": d.task_id, "tenant": d.tenant, "outcome": d.outcome, "detail": d.detail}
            for d in decided
        ]
        click.echo(json.dumps({"decided": rows}))
        return
    for d in decided:
        click.echo(f"{d.task_id}: {d.outcome}" + (f" ({d.detail})" if d.detail else ""))
    if len(decided) != 1:
        click.echo(f"decided {len(decided)} item(s)", err=True)


def _target(task_id: str | None, every: bool, **filters: Any) -> ReviewFilter | None:
    """``None`` for one item by id; the filter for ``--all``."""
    narrowed = any(value is not None for value in filters.values())
    if task_id is not None and (every or narrowed):
        raise InputError("give a TASK_ID, or --all with filters, not both")
    if task_id is None and not every:
        hint = " (add --all to act on every item they select)" if narrowed else ""
        raise InputError(f"give a TASK_ID, or --all{hint}")
    return None if task_id is not None else ReviewFilter(**filters)


@review.command("approve")
@SWARM_ARG
@click.argument("task_id", required=False)
@distributed_redis
@prefix_option
@click.option("--all", "every", is_flag=True, help="Every item the filters select.")
@_filters
@actor_option
@click.option("--note", help="Why; recorded in the audit trail.")
@json_option
@reports_input_errors
def review_approve(
    swarm: Path,
    task_id: str | None,
    redis_url: str,
    prefix: str,
    every: bool,
    tenant: str | None,
    skill: str | None,
    older_than: timedelta | None,
    newer_than: timedelta | None,
    actor: str,
    note: str | None,
    as_json: bool,
) -> None:
    """Commit the Result of TASK_ID that waits for review (exactly once, audited).

    A parked sensitive tool call is run instead: the task goes on, on any worker, with the
    call approved. With --all (and --tenant, --skill, --older-than, --newer-than to narrow
    it): every item selected, each decided and audited on its own.
    """
    where = _target(
        task_id, every, tenant=tenant, skill=skill, older_than=older_than, newer_than=newer_than
    )

    async def decide(client: Client) -> list[HumanDecision]:
        if where is None:
            assert task_id is not None
            return [await client.review.approve(task_id, note=note)]
        return await client.review.approve_all(
            tenant=where.tenant,
            skill=where.skill,
            older_than=where.older_than,
            newer_than=where.newer_than,
            note=note,
        )

    _decide(swarm, redis_url, prefix, actor, decide, as_json)


@review.command("reject")
@SWARM_ARG
@click.argument("task_id", required=False)
@distributed_redis
@prefix_option
@click.option("--all", "every", is_flag=True, help="Every item the filters select.")
@_filters
@actor_option
@click.option("--reason", required=True, help="Why; recorded in the audit trail.")
@click.option(
    "--retry",
    is_flag=True,
    help="Send the task back for another attempt with --reason as its feedback (within the "
    "skill's attempt limit) instead of denying it.",
)
@json_option
@reports_input_errors
def review_reject(
    swarm: Path,
    task_id: str | None,
    redis_url: str,
    prefix: str,
    every: bool,
    tenant: str | None,
    skill: str | None,
    older_than: timedelta | None,
    newer_than: timedelta | None,
    actor: str,
    reason: str,
    retry: bool,
    as_json: bool,
) -> None:
    """Deny the Result of TASK_ID that waits for review (audited; nothing is committed).

    A parked sensitive tool call is refused instead: the model reads --reason as the call's
    result and the task goes on without it. With --retry the task runs again instead, its
    prompt seeing --reason as `feedback`; a task at its skill's attempt limit is refused.
    With --all (and filters): every item selected, each decided and audited on its own.
    """
    where = _target(
        task_id, every, tenant=tenant, skill=skill, older_than=older_than, newer_than=newer_than
    )

    async def decide(client: Client) -> list[HumanDecision]:
        if where is None:
            assert task_id is not None
            return [await client.review.reject(task_id, reason, retry=retry)]
        return await client.review.reject_all(
            reason,
            retry=retry,
            tenant=where.tenant,
            skill=where.skill,
            older_than=where.older_than,
            newer_than=where.newer_than,
        )

    _decide(swarm, redis_url, prefix, actor, decide, as_json)


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
    """List a tenant's audit events and, with --verify, check their hash chain.

    A trail that retention trimmed is verified from its checkpoint: the oldest record kept
    must link to the last one removed, as the newest `checkpoint` record says.
    """

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
                    "checkpoint_seq": check.start_seq,
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
            since = f" (from the checkpoint at seq {check.start_seq})" if check.start_seq else ""
            click.echo(f"chain verified: {len(check.records)} records{since}")
    if verify and not check.ok:
        click.echo(f"audit chain broken at seq {check.broken_at}: {check.problem}", err=True)
        raise SystemExit(FAULT)


def register(group: click.Group) -> None:
    """Add this module's commands to ``group``."""
    group.add_command(review)
    group.add_command(audit)
