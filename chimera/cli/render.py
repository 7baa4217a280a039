"""Tables for the terminal (rich), kept apart from the commands that fill them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from chimera.lib.redis_connect import safe_url
from chimera.services.orchestrator import RunReport


def console() -> Console:
    """A console on stdout; plain text when stdout is not a terminal."""
    import sys

    # Off a terminal (CI logs, pipes) rich would wrap at 80 columns; tables read better wide.
    return Console(highlight=False, width=None if sys.stdout.isatty() else 200)


def print_table(title: str, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    """Print ``rows`` as a table with the given columns (empty → a one-line note)."""
    out = console()
    if not rows:
        out.print(f"{title}: none")
        return
    table = Table(title=title, title_justify="left")
    for column in columns:
        numeric = all(isinstance(r.get(column), int | float) for r in rows)
        table.add_column(column, justify="right" if numeric else "left")
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    out.print(table)


def print_run_report(report: RunReport, show_tasks: bool, redis_url: str | None = None) -> None:
    """The summary of ``chimera run``: per-task outcomes (small runs), then the totals."""
    out = console()
    if show_tasks:
        tasks = [
            o.as_json()
            for o in sorted(report.outcomes.values(), key=lambda o: (o.tenant, o.skill, o.task_id))
        ]
        for row in tasks:
            row["confidence"] = None if row["confidence"] is None else f"{row['confidence']:.3f}"
        print_table(
            "Tasks",
            tasks,
            ["tenant", "skill", "task_id", "outcome", "confidence", "attempts", "reason"],
        )
    print_table(
        f"Session {report.session}",
        report.rows(),
        [
            "tenant",
            "skill",
            "tasks",
            "committed",
            "denied",
            "review",
            "dead_lettered",
            "retried",
            "p50_ms",
            "p95_ms",
        ],
    )
    totals = report.totals()
    out.print(
        f"{totals['tasks']} tasks in {report.elapsed_s:.2f}s: {totals['committed']} committed, "
        f"{totals['denied']} denied, {totals['review']} waiting for review, "
        f"{totals['dead_lettered']} dead-lettered"
    )
    if totals["review"] and redis_url:
        out.print(
            f"{totals['review']} results wait for a human: `chimera review list SWARM "
            f"--redis-url {safe_url(redis_url)}`, then `chimera review approve SWARM ID` or "
            "`chimera review reject SWARM ID --reason TEXT`."
        )
    elif totals["review"]:
        out.print(
            f"{totals['review']} results wait for a human. This run used the embedded Redis, "
            "which is gone now: run with --redis-url URL to keep them, then "
            "`chimera review list SWARM --redis-url URL`."
        )
