"""``chimera submit``, ``results`` and ``cancel``: tasks on a shared Redis, through the client."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Any

import click

from chimera.cli.commands_config import SWARM_ARG
from chimera.cli.commands_pipeline import as_runs, cancel_run, submit_runs
from chimera.cli.errors import InputError, reports_input_errors
from chimera.cli.jsonl import input_object, read_submissions
from chimera.cli.observability import Observing, trace_option
from chimera.cli.options import distributed_redis, json_option, prefix_option, tenant_filter
from chimera.cli.outcomes_render import outcome_line, print_outcome, wait_exit_code
from chimera.cli.render import print_table
from chimera.cli.runtime import with_client
from chimera.client import Client
from chimera.models.task import Task
from chimera.ports.stores import TaskState
from chimera.services.cancel import Cancelled
from chimera.services.outcomes import Outcome
from chimera.services.pipeline.tracker import RunRequest
from chimera.services.planner import Submission

WAIT_HELP = (
    "Wait for every task's outcome, print it, and exit by it: 0 committed, 3 denied, "
    "4 waiting for review, 5 dead-lettered, 6 cancelled, 124 still running at --timeout "
    "(several tasks: the first of 124, 5, 6, 3, 4 that applies)."
)


@click.command()
@SWARM_ARG
@distributed_redis
@prefix_option
@click.option("--tenant", help="Tenant of the task(s).")
@click.option("--skill", help="Skill to run.")
@click.option(
    "--pipeline",
    help="Start a run of this pipeline instead (--input: the run's input; --file: JSONL of "
    "{tenant, input[, session]}); prints the run ids.",
)
@click.option("--input", "input_json", help="Task input as a JSON object.")
@click.option(
    "--file",
    "input_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSONL of {tenant, skill, input[, session]}; --tenant/--skill fill missing fields.",
)
@click.option("--session", help="Session id (default: a new one per call).")
@trace_option
@click.option("--wait", is_flag=True, help=WAIT_HELP)
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=0),
    help="With --wait: give up waiting after this many seconds (exit 124).",
)
@json_option
@reports_input_errors
def submit(
    swarm: Path,
    redis_url: str,
    prefix: str,
    tenant: str | None,
    skill: str | None,
    pipeline: str | None,
    input_json: str | None,
    input_file: Path | None,
    session: str | None,
    trace: bool | None,
    wait: bool,
    timeout_s: float | None,
    as_json: bool,
) -> None:
    """Validate tasks and enqueue them for `chimera worker` processes; print their ids.

    Either one task (--tenant, --skill, --input) or many (--file, submitted in batches).
    Nothing is enqueued unless every task is valid. The session used is printed on stderr
    (and in --json).
    """
    if timeout_s is not None and not wait:
        raise InputError("--timeout needs --wait")
    if pipeline is not None:
        if skill is not None:
            raise InputError("give --skill or --pipeline, not both")
        if input_file is None:
            if not (tenant and input_json is not None):
                raise InputError("--pipeline needs --tenant and --input, or --file")
            runs = [RunRequest(tenant, pipeline, input_object(input_json), where="--input")]
        else:
            defaults = {k: v for k, v in {"tenant": tenant, "skill": pipeline}.items() if v}
            runs = as_runs(read_submissions(input_file, defaults))
        submit_runs(swarm, redis_url, prefix, runs, session, wait, timeout_s, as_json)
        return
    if input_file is None:
        if not (tenant and skill and input_json is not None):
            raise InputError("give --tenant, --skill and --input, or --file")
        items = [Submission(tenant, skill, input_object(input_json), where="--input")]
    else:
        defaults = {k: v for k, v in {"tenant": tenant, "skill": skill}.items() if v}
        items = read_submissions(input_file, defaults)

    async def body(client: Client) -> tuple[list[Task], list[Outcome]]:
        # Each task's trace starts here (a PRODUCER span) when tracing is on.
        with Observing(client.swarm, trace):
            tasks = await client.submit_many(items, session=session)
        if not wait:
            return tasks, []
        if not as_json:
            _say_sessions(tasks)
        return tasks, await client.wait_all(tasks, timeout_s=timeout_s)

    tasks, outcomes = with_client(swarm, redis_url, prefix, body)
    sessions = sorted({t.session for t in tasks})
    if as_json:
        out: dict[str, Any] = {
            "session": sessions[0] if len(sessions) == 1 else None,
            "submitted": [
                {"task_id": t.id, "tenant": t.tenant, "session": t.session, "skill": t.skill}
                for t in tasks
            ],
        }
        if wait:
            out["outcomes"] = [outcome.as_json() for outcome in outcomes]
        click.echo(json.dumps(out))
    elif wait:
        for outcome in outcomes:
            click.echo(outcome_line(outcome))
    else:
        _say_sessions(tasks)
        for task in tasks:
            click.echo(task.id)
    if wait:
        raise SystemExit(wait_exit_code(outcomes))


def _say_sessions(tasks: list[Task]) -> None:
    sessions = sorted({t.session for t in tasks})
    label = "session" if len(sessions) == 1 else "sessions"
    click.echo(f"submitted {len(tasks)} task(s) to {label} {', '.join(sessions)}", err=True)


@click.command()
@SWARM_ARG
@distributed_redis
@prefix_option
@tenant_filter
@click.option("--session", help="Only this session.")
@click.option("--task", "task_id", help="One task by id, in whatever state it is.")
@json_option
@reports_input_errors
def results(
    swarm: Path,
    redis_url: str,
    prefix: str,
    tenant: str | None,
    session: str | None,
    task_id: str | None,
    as_json: bool,
) -> None:
    """List committed results (one JSON object per line with --json), or one task by id.

    With --task: the task's state (pending, review, committed, denied, dead_lettered,
    cancelled), its output, prompt and earlier attempts; an id no tenant has exits 2.
    """
    if task_id is not None:
        if session is not None:
            raise InputError("--task and --session exclude each other")
        _one_task(swarm, redis_url, prefix, task_id, tenant, as_json)
        return

    async def body(client: Client) -> list[dict[str, Any]]:
        found = await client.runtime.results().list(tenant, session)
        return [json.loads(result.model_dump_json()) for result in found]

    rows = with_client(swarm, redis_url, prefix, body)
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


def _one_task(
    swarm: Path, redis_url: str, prefix: str, task_id: str, tenant: str | None, as_json: bool
) -> None:
    async def body(client: Client) -> Outcome:
        return await client.result(task_id, tenant=tenant)

    outcome = with_client(swarm, redis_url, prefix, body)
    if outcome.state is TaskState.UNKNOWN:
        where = f"tenant {tenant!r}" if tenant else "this swarm"
        raise InputError(f"no task of {where} has the id {task_id}")
    if as_json:
        click.echo(json.dumps(outcome.as_json()))
    else:
        print_outcome(outcome)


@click.command()
@SWARM_ARG
@click.argument("task_ids", nargs=-1)
@distributed_redis
@prefix_option
@click.option("--tenant", help="Look the ids up in this tenant only; needed with --session.")
@click.option("--session", help="Cancel every task of this session that has not settled.")
@click.option(
    "--run",
    "run_id",
    help="Cancel a pipeline run: its pending steps never start, its open tasks are cancelled.",
)
@click.option(
    "--actor",
    default=lambda: getpass.getuser(),
    show_default="current user",
    help="Who cancels; recorded in the audit trail.",
)
@click.option("--reason", help="Why; recorded in the audit trail and shown with the task.")
@json_option
@reports_input_errors
def cancel(
    swarm: Path,
    task_ids: tuple[str, ...],
    redis_url: str,
    prefix: str,
    tenant: str | None,
    session: str | None,
    run_id: str | None,
    actor: str,
    reason: str | None,
    as_json: bool,
) -> None:
    """Cancel tasks by id (TASK_IDS), a whole --session or a pipeline --run.

    Nothing of them is committed.

    Queued and delayed tasks never start; a running task's Result is dropped by the Judge.
    Tasks that already have an outcome keep it (shown as `not cancelled`). Audited with
    --actor.
    """
    if sum(map(bool, (task_ids, session, run_id))) != 1:
        raise InputError("name tasks by id, or give --session (with --tenant), or --run")
    if run_id is not None:
        cancel_run(swarm, redis_url, prefix, run_id, tenant, actor, reason, as_json)
        return
    if session is not None and tenant is None:
        raise InputError("--session needs --tenant")

    async def body(client: Client) -> list[Cancelled]:
        if session is not None:
            assert tenant is not None
            return await client.cancel_session(tenant, session, reason=reason, actor=actor)
        return await client.cancel(*task_ids, tenant=tenant, reason=reason, actor=actor)

    done = with_client(swarm, redis_url, prefix, body, actor=actor)
    if as_json:
        click.echo(json.dumps({"cancelled": [_cancel_row(c) for c in done]}))
        return
    for item in done:
        click.echo(_cancel_line(item))
    click.echo(f"cancelled {sum(c.cancelled for c in done)} of {len(done)} task(s)", err=True)


def _cancel_row(item: Cancelled) -> dict[str, Any]:
    return {
        "task_id": item.task_id,
        "tenant": item.tenant,
        "cancelled": item.cancelled,
        "state": item.state.value,
    }


def _cancel_line(item: Cancelled) -> str:
    if item.cancelled:
        return f"{item.task_id}: cancelled"
    if item.state is TaskState.UNKNOWN:
        return f"{item.task_id}: unknown (no such task)"
    return f"{item.task_id}: not cancelled (already {item.state.value})"


def register(group: click.Group) -> None:
    """Add this module's commands to ``group``."""
    group.add_command(submit)
    group.add_command(results)
    group.add_command(cancel)
