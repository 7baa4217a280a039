"""``chimera run`` and ``chimera worker``: executing a swarm."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import click

from chimera.bootstrap import Runtime
from chimera.cli.commands_config import SWARM_ARG
from chimera.cli.errors import InputError, fail, reports_input_errors
from chimera.cli.jsonl import read_submissions
from chimera.cli.observability import Observing, observing_options
from chimera.cli.options import json_option, prefix_option, redis_url_option
from chimera.cli.render import print_run_report
from chimera.cli.run_process import run_observed
from chimera.cli.runtime import run_until_stopped, with_runtime
from chimera.cli.signals import EarlyStop, interrupt_on_sigterm, stop_on_signals, worker_signals
from chimera.cli.worker_children import supervise_workers
from chimera.cli.worker_process import WorkerProcess
from chimera.lib.redis_connect import safe_url
from chimera.models.presence import Role
from chimera.services.judge import JudgeSettings
from chimera.services.orchestrator import OUTCOMES, RunReport
from chimera.services.pipeline.tracker import expand_pipeline_jobs
from chimera.services.planner import expand_jobs
from chimera.services.worker import WorkerSettings

#: ``chimera run`` exit code when a task ended in an outcome named by ``--fail-on``.
FAILED_ON_OUTCOME = 3


@click.command()
@SWARM_ARG
@redis_url_option(None)
@prefix_option
@click.option(
    "--input",
    "input_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSONL file of tasks to submit, one {tenant, skill, input[, session]} per line.",
)
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write every task's outcome and output here as JSONL.",
)
@click.option(
    "--concurrency",
    default=200,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Tasks in flight at once.",
)
@click.option("--session", help="Session id for the submitted tasks (default: a new one).")
@click.option("--no-jobs", is_flag=True, help="Do not submit the swarm file's jobs: section.")
@click.option(
    "--fail-on",
    metavar="OUTCOMES",
    default="",
    callback=lambda _ctx, _param, value: _outcomes(value),
    help="Exit 3 when a task ends in one of these outcomes (comma-separated: denied, review, "
    "dead_lettered, cancelled). A dead-lettered task always exits 1.",
)
@click.option("--all", "show_all", is_flag=True, help="List every task (default: the first 50).")
@click.option(
    "--show-output", is_flag=True, help="Print each task's whole output (default: its start)."
)
@observing_options
@json_option
@reports_input_errors
def run(
    swarm: Path,
    redis_url: str | None,
    prefix: str,
    input_file: Path | None,
    out_file: Path | None,
    concurrency: int,
    session: str | None,
    no_jobs: bool,
    fail_on: frozenset[str],
    show_all: bool,
    show_output: bool,
    trace: bool | None,
    metrics_port: int | None,
    metrics_host: str,
    as_json: bool,
) -> None:
    """Run SWARM's jobs (and --input) to completion in this process.

    Plans the tasks, runs a Worker and the Judge on one event loop, and returns when every
    task is committed, denied, waiting for review or dead-lettered. Without
    --redis-url it needs no server: it uses an embedded in-process Redis.

    Exits 1 when a task was dead-lettered, 3 when one ended as --fail-on names.
    """
    interactive = sys.stdout.isatty() and not as_json
    extra = read_submissions(input_file) if input_file is not None else []

    async def body(runtime: Runtime) -> RunReport:
        submissions = ([] if no_jobs else expand_jobs(runtime.swarm)) + extra
        runs = [] if no_jobs else expand_pipeline_jobs(runtime.swarm)
        if not submissions and not runs:
            raise InputError("nothing to run: the swarm has no jobs and no --input was given")
        progress = _progress_bar() if interactive else None
        try:
            with Observing(runtime.swarm, trace, metrics_port, metrics_host) as observing:
                return await run_observed(
                    runtime,
                    observing,
                    submissions,
                    session,
                    concurrency,
                    progress.update if progress else None,
                    shared=redis_url is not None,
                    runs=runs,
                )
        finally:
            if progress:
                progress.close()

    with interrupt_on_sigterm() as interruption:
        try:
            report = with_runtime(swarm, redis_url, prefix, body)
        except KeyboardInterrupt:
            where = safe_url(redis_url) if redis_url else "the embedded Redis (now gone)"
            click.echo(f"interrupted: unfinished tasks stay in {where}", err=True)
            raise SystemExit(interruption.exit_code) from None
    if out_file is not None:
        with out_file.open("w", encoding="utf-8") as handle:
            for outcome in report.outcomes.values():
                handle.write(json.dumps(outcome.as_json()) + "\n")
    if as_json:
        click.echo(json.dumps(report.as_json()))
    else:
        print_run_report(report, show_all=show_all, full_output=show_output, redis_url=redis_url)
    _exit_for_outcomes(report, fail_on)


def _outcomes(value: str) -> frozenset[str]:
    """Parse ``--fail-on``: outcome names separated by commas."""
    names = frozenset(part.strip() for part in value.split(",") if part.strip())
    allowed = [name for name in OUTCOMES if name != "committed"]
    unknown = sorted(names - set(allowed))
    if unknown:
        raise click.BadParameter(
            f"unknown outcome(s) {', '.join(unknown)}; choose from {', '.join(allowed)}"
        )
    return names


def _exit_for_outcomes(report: RunReport, fail_on: frozenset[str]) -> None:
    """Exit 1 if a task was dead-lettered (a fault), 3 if one ended as ``fail_on`` names."""
    totals = report.totals()
    if totals["dead_lettered"]:
        fail([f"error: {totals['dead_lettered']} task(s) dead-lettered"], code=1)
    failing = {name: totals[name] for name in sorted(fail_on) if totals[name]}
    if failing:
        counts = ", ".join(f"{count} {name}" for name, count in failing.items())
        fail(
            [f"failed: {counts} (--fail-on {','.join(sorted(fail_on))})"],
            code=FAILED_ON_OUTCOME,
        )


class _Progress:
    def __init__(self) -> None:
        from rich.progress import Progress

        self._progress = Progress(transient=True)
        self._task: Any = None
        self._progress.start()

    def update(self, done: int, total: int) -> None:
        if self._task is None:
            self._task = self._progress.add_task("settling tasks", total=total)
        self._progress.update(self._task, completed=done, total=total)

    def close(self) -> None:
        self._progress.stop()


def _progress_bar() -> _Progress:
    return _Progress()


@click.command()
@SWARM_ARG
@redis_url_option("redis://127.0.0.1:6379/0")
@prefix_option
@click.option("--tenant", "tenants", multiple=True, help="Only these tenants (repeatable).")
@click.option(
    "--concurrency",
    default=200,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Tasks in flight at once.",
)
@click.option("--no-judge", is_flag=True, help="Run only the Worker; judge elsewhere.")
@click.option("--judge-only", is_flag=True, help="Run only the Judge (pairs with --no-judge).")
@click.option(
    "--lease-ms",
    default=30_000,
    show_default=True,
    type=click.IntRange(100),
    help="Entries idle this long are taken over from dead workers.",
)
@click.option(
    "--grace",
    default=10.0,
    show_default=True,
    type=float,
    help="Seconds in-flight tasks may finish after SIGTERM before being handed back.",
)
@click.option(
    "--processes",
    type=click.IntRange(1, 1024),
    help="Run N worker processes under a supervisor that restarts one that dies and "
    "forwards SIGTERM/SIGINT to all (default: this process runs the loops itself).",
)
@observing_options
@click.option(
    "--drift-wait",
    default=600.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Seconds a task whose skill this process's swarm.yaml lacks (a newer file planned "
    "it) is left for an up-to-date worker before it is dead-lettered, replayable.",
)
@click.pass_context
@reports_input_errors
def worker(
    ctx: click.Context,
    swarm: Path,
    redis_url: str,
    prefix: str,
    tenants: tuple[str, ...],
    concurrency: int,
    no_judge: bool,
    judge_only: bool,
    lease_ms: int,
    grace: float,
    processes: int | None,
    trace: bool | None,
    metrics_port: int | None,
    metrics_host: str,
    drift_wait: float,
) -> None:
    """Consume SWARM's tasks from a shared Redis until SIGINT or SIGTERM.

    Runs a Worker and a Judge for the given tenants (--no-judge: the Worker only;
    --judge-only: the Judge only). Start as many as you like on as many machines as you
    like against one Redis. On SIGTERM it stops reading, lets in-flight tasks finish within
    --grace, hands the rest back and exits 0. --processes N runs N such processes and
    stops them all on one signal (exit 0 when all stopped cleanly).
    """
    if no_judge and judge_only:
        raise InputError("--no-judge and --judge-only exclude each other")
    if processes is not None:
        supervise_workers(ctx, processes, swarm, redis_url, tenants)
        return

    async def body(runtime: Runtime, early: EarlyStop) -> None:
        chosen = runtime.scope.check(tenants) or None
        stop = asyncio.Event()
        stop_on_signals(stop, early)
        wanted: list[tuple[Role, bool]] = [("worker", not judge_only), ("judge", not no_judge)]
        roles = [role for role, on in wanted if on]
        with Observing(runtime.swarm, trace, metrics_port, metrics_host) as observing:
            process = WorkerProcess(
                runtime,
                observing,
                chosen or [],
                roles,
                WorkerSettings(
                    concurrency=concurrency,
                    lease_ms=lease_ms,
                    grace_s=grace,
                    drift_wait_s=drift_wait,
                ),
                JudgeSettings(lease_ms=lease_ms, drift_wait_s=drift_wait),
                redis_url,
            )
            process.log_started()
            try:
                await run_until_stopped(process.loops(stop), stop)
            finally:
                process.log_stopped()

    # A SIGTERM that arrives while the swarm loads or Redis connects still means "stop
    # cleanly": it is recorded (from process start, when `main()` saw this command coming)
    # and the loops start stopped.
    with worker_signals(ctx.find_object(EarlyStop)) as early:
        with_runtime(swarm, redis_url, prefix, lambda runtime: body(runtime, early), role="worker")


def register(group: click.Group) -> None:
    """Add this module's commands to ``group``."""
    group.add_command(run)
    group.add_command(worker)
