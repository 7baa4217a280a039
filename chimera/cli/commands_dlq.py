"""``chimera dlq`` and ``chimera session``: dead letters, and halting or resuming sessions."""

from __future__ import annotations

import getpass
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import click

from chimera.bootstrap import Runtime
from chimera.cli.commands_config import SWARM_ARG
from chimera.cli.errors import InputError, reports_input_errors
from chimera.cli.options import distributed_redis, prefix_option, tenant_listing
from chimera.cli.render import print_table
from chimera.cli.runtime import with_runtime
from chimera.models.session import SessionState
from chimera.services.sessions import SessionControl


@click.group()
def dlq() -> None:
    """Inspect and replay dead-lettered tasks."""


@dlq.command("list")
@tenant_listing
def dlq_list(swarm: Path, redis_url: str, prefix: str, tenant: str | None, as_json: bool) -> None:
    """List dead letters with their reason, attempts and last error."""

    async def body(runtime: Runtime) -> list[dict[str, Any]]:
        return [
            {
                "id": e.entry_id,
                "tenant": e.tenant,
                "task_id": e.task.id if e.task else None,
                "skill": e.task.skill if e.task else None,
                "reason": e.reason,
                "attempts": e.attempts,
                "last_error": e.last_error,
            }
            for e in await runtime.dead_letters().entries(tenant)
        ]

    rows = with_runtime(swarm, redis_url, prefix, body)
    if as_json:
        click.echo(json.dumps({"dead_letters": rows}))
    else:
        print_table(
            "Dead letters",
            rows,
            ["id", "tenant", "task_id", "skill", "reason", "attempts", "last_error"],
        )


@dlq.command("replay")
@SWARM_ARG
@click.argument("ids", nargs=-1)
@click.option("--all", "replay_all", is_flag=True, help="Replay every dead letter.")
@distributed_redis
@prefix_option
@click.option("--tenant", help="Only this tenant.")
@click.option("--actor", default=lambda: getpass.getuser(), show_default="current user")
@reports_input_errors
def dlq_replay(
    swarm: Path,
    ids: tuple[str, ...],
    replay_all: bool,
    redis_url: str,
    prefix: str,
    tenant: str | None,
    actor: str,
) -> None:
    """Put dead letters (by dlq entry id or task id, or --all) back in the queue, attempts reset."""
    if not ids and not replay_all:
        raise InputError("name dead letters by id, or pass --all")

    async def body(runtime: Runtime) -> int:
        replayed = await runtime.dead_letters().replay(
            None if replay_all else list(ids), actor, tenant
        )
        if ids and not replayed:
            raise InputError(f"no dead letter matches {', '.join(ids)}")
        return len(replayed)

    count = with_runtime(swarm, redis_url, prefix, body)
    click.echo(f"replayed {count} task(s)")


@click.group()
def session() -> None:
    """List sessions; halt one (its tasks wait) or resume it."""


@session.command("list")
@tenant_listing
def session_list(
    swarm: Path, redis_url: str, prefix: str, tenant: str | None, as_json: bool
) -> None:
    """Sessions with their state and counters."""

    async def body(runtime: Runtime) -> list[dict[str, Any]]:
        return [
            {**info.model_dump(exclude={"stored_state"}), "state": info.state.value}
            for info in await runtime.session_control().list(tenant)
        ]

    rows = with_runtime(swarm, redis_url, prefix, body)
    if as_json:
        click.echo(json.dumps({"sessions": rows}))
    else:
        print_table(
            "Sessions",
            rows,
            [
                "tenant",
                "session",
                "state",
                "submitted",
                "committed",
                "denied",
                "review",
                "retried",
                "dead_lettered",
                "cancelled",
                "tokens",
            ],
        )


def _move(
    swarm: Path,
    redis_url: str,
    prefix: str,
    tenant: str,
    session_id: str,
    action: Callable[[SessionControl], Callable[[str, str], Awaitable[SessionState]]],
) -> None:
    async def body(runtime: Runtime) -> SessionState:
        return await action(runtime.session_control())(tenant, session_id)

    state = with_runtime(swarm, redis_url, prefix, body)
    click.echo(f"{tenant}/{session_id}: {state.value}")


@session.command("halt")
@SWARM_ARG
@click.argument("session_id")
@click.option("--tenant", required=True)
@distributed_redis
@prefix_option
@reports_input_errors
def session_halt(swarm: Path, session_id: str, tenant: str, redis_url: str, prefix: str) -> None:
    """Halt SESSION_ID: its tasks are not started (they wait, nothing is lost)."""
    _move(swarm, redis_url, prefix, tenant, session_id, lambda control: control.halt)


@session.command("resume")
@SWARM_ARG
@click.argument("session_id")
@click.option("--tenant", required=True)
@distributed_redis
@prefix_option
@reports_input_errors
def session_resume(swarm: Path, session_id: str, tenant: str, redis_url: str, prefix: str) -> None:
    """Resume a halted SESSION_ID: its waiting tasks run again."""
    _move(swarm, redis_url, prefix, tenant, session_id, lambda control: control.resume)


def register(group: click.Group) -> None:
    """Add this module's commands to ``group``."""
    group.add_command(dlq)
    group.add_command(session)
