"""``chimera pipeline show|list`` and the pipeline half of ``submit`` and ``cancel``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from chimera.cli.commands_config import SWARM_ARG
from chimera.cli.errors import InputError, fail, reports_input_errors
from chimera.cli.options import distributed_redis, json_option, prefix_option, tenant_filter
from chimera.cli.render import print_table
from chimera.cli.runtime import with_client
from chimera.client import Client
from chimera.models.pipeline import PipelineRun, RunState
from chimera.services.errors import RequestError
from chimera.services.pipeline.tracker import RunRequest
from chimera.services.planner import Submission
from chimera.services.run_report import run_summary

#: ``submit --pipeline --wait`` exit codes by how the run ended (124: still running).
RUN_EXIT = {RunState.SUCCEEDED: 0, RunState.FAILED: 3, RunState.CANCELLED: 6}
STILL_RUNNING = 124


def as_runs(items: Sequence[Submission]) -> list[RunRequest]:
    """Submissions read with the pipeline's name in ``skill``, as run requests."""
    for item in items:
        if not isinstance(item.input, dict):
            raise InputError(f"{item.where}: input must be a JSON object")
    return [RunRequest(i.tenant, i.skill, i.input, i.session, i.where) for i in items]


def submit_runs(
    swarm: Path,
    redis_url: str,
    prefix: str,
    requests: Sequence[RunRequest],
    session: str | None,
    wait: bool,
    timeout_s: float | None,
    as_json: bool,
) -> None:
    """Start the runs (``submit --pipeline``), print their ids, and maybe wait for them."""

    async def body(client: Client) -> list[PipelineRun]:
        runs = []
        for request in requests:
            where = request.where or "--input"
            try:
                runs.append(
                    await client.runs.start(
                        request.tenant,
                        request.pipeline,
                        request.input,
                        session=request.session or session,
                    )
                )
            except RequestError as exc:
                raise InputError(f"{where}: {exc}") from None
        if not wait:
            return runs
        return [
            await client.runs.wait(run.id, tenant=run.tenant, timeout_s=timeout_s) for run in runs
        ]

    runs = with_client(swarm, redis_url, prefix, body)
    if as_json:
        click.echo(json.dumps({"runs": [run_summary(run) for run in runs]}))
    else:
        sessions = sorted({run.session for run in runs})
        click.echo(f"started {len(runs)} run(s) in session {', '.join(sessions)}", err=True)
        for run in runs:
            click.echo(_run_line(run) if wait else run.id)
    if wait:
        raise SystemExit(max(RUN_EXIT.get(run.state, STILL_RUNNING) for run in runs))


def cancel_run(
    swarm: Path,
    redis_url: str,
    prefix: str,
    run_id: str,
    tenant: str | None,
    actor: str,
    reason: str | None,
    as_json: bool,
) -> None:
    """``cancel --run``: the run's pending steps never start, its open tasks are cancelled."""

    async def body(client: Client) -> PipelineRun:
        return await client.runs.cancel(run_id, tenant=tenant, reason=reason)

    run = with_client(swarm, redis_url, prefix, body, actor=actor)
    if as_json:
        click.echo(json.dumps(run_summary(run)))
    else:
        click.echo(_run_line(run))


@click.group()
def pipeline() -> None:
    """Pipeline runs: `show` one run's steps, `list` the runs kept.

    Start runs with `chimera submit SWARM --pipeline NAME --tenant T --input JSON` (or the
    `jobs:` of the swarm file with `chimera run`); cancel one with `chimera cancel --run`.
    """


@pipeline.command()
@SWARM_ARG
@click.argument("run_id")
@distributed_redis
@prefix_option
@click.option("--tenant", help="Look the run up in this tenant only.")
@json_option
@reports_input_errors
def show(
    swarm: Path, run_id: str, redis_url: str, prefix: str, tenant: str | None, as_json: bool
) -> None:
    """Show one run: its outcome, and every step's state, tasks, timings and output."""

    async def body(client: Client) -> PipelineRun:
        return await client.runs.get(run_id, tenant=tenant)

    run = with_client(swarm, redis_url, prefix, body)
    if as_json:
        click.echo(run.model_dump_json())
        return
    click.echo(_run_line(run))
    click.echo(f"tenant {run.tenant}  session {run.session}  trace {run.trace_id}")
    rows = [_step_row(name, run) for name in run.steps]
    print_table("Steps", rows, ["step", "state", "tasks", "started", "seconds", "output", "reason"])
    if run.output is not None:
        click.echo(f"output: {json.dumps(run.output)}")


@pipeline.command(name="list")
@SWARM_ARG
@distributed_redis
@prefix_option
@tenant_filter
@json_option
@reports_input_errors
def list_runs(swarm: Path, redis_url: str, prefix: str, tenant: str | None, as_json: bool) -> None:
    """List the runs kept, oldest first, with their state."""

    async def body(client: Client) -> list[PipelineRun]:
        return await client.runs.list(tenant=tenant)

    runs = with_client(swarm, redis_url, prefix, body)
    if as_json:
        click.echo(json.dumps({"runs": [run_summary(run) for run in runs]}))
        return
    if not runs:
        fail(["no pipeline runs"], code=0)
    rows = [
        {**run_summary(run), "created": run.created_at.isoformat(timespec="seconds")}
        for run in runs
    ]
    print_table(
        "Pipeline runs", rows, ["tenant", "pipeline", "run_id", "state", "created", "reason"]
    )


def _run_line(run: PipelineRun) -> str:
    line = f"run {run.id} ({run.pipeline}): {run.state.value}"
    return line + (f": {run.reason}" if run.reason else "")


def _step_row(name: str, run: PipelineRun) -> dict[str, Any]:
    step = run.steps[name]
    seconds = (
        f"{(step.finished_at - step.started_at).total_seconds():.2f}"
        if step.started_at and step.finished_at
        else ""
    )
    output = "" if step.output is None else json.dumps(step.output)
    return {
        "step": name,
        "state": step.state.value,
        "tasks": ", ".join(task.task_id for task in step.tasks),
        "started": step.started_at.isoformat(timespec="seconds") if step.started_at else "",
        "seconds": seconds,
        "output": output if len(output) <= 80 else output[:79] + "…",
        "reason": step.reason or "",
    }


def register(group: click.Group) -> None:
    """Add this module's commands to ``group``."""
    group.add_command(pipeline)
