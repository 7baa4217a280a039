"""Tables for the terminal (rich), kept apart from the commands that fill them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from chimera.lib.redis_connect import safe_url
from chimera.services.orchestrator import RunReport
from chimera.services.run_report import run_summary


def console() -> Console:
    """A console on stdout; plain text when stdout is not a terminal."""
    import sys

    # Off a terminal (CI logs, pipes) rich would wrap at 80 columns; tables read better wide.
    return Console(highlight=False, width=None if sys.stdout.isatty() else 200)


#: Columns never cut or wrapped: an id is useless once shortened.
WHOLE = frozenset({"task_id", "session", "consumer"})
#: Columns that fold onto further lines rather than being cut.
FOLDED = frozenset({"output", "reason", "error"})
#: Tasks listed by ``chimera run`` unless ``--all``.
TASKS_SHOWN = 50
#: Characters of a task's output shown unless ``--show-output``.
OUTPUT_CHARS = 60


def print_table(title: str, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    """Print ``rows`` as a table with the given columns (empty → a one-line note)."""
    out = console()
    if not rows:
        out.print(f"{title}: none")
        return
    table = Table(title=title, title_justify="left")
    for column in columns:
        numeric = all(isinstance(r.get(column), int | float) for r in rows)
        table.add_column(
            column,
            justify="right" if numeric else "left",
            no_wrap=column in WHOLE,
            min_width=max((len(str(r.get(column) or "")) for r in rows), default=0)
            if column in WHOLE
            else None,
            overflow="fold" if column in FOLDED else "ellipsis",
        )
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    out.print(table)


def print_run_report(
    report: RunReport,
    show_all: bool = False,
    full_output: bool = False,
    redis_url: str | None = None,
) -> None:
    """The summary of ``chimera run``: tasks, then figures per tenant and skill.

    Lists the first 50 tasks unless ``show_all`` (and says how to see the rest), each with
    the start of its output (all of it with ``full_output``); the figures include tokens and
    their cost from the swarm's ``pricing:``.
    """
    out = console()
    tasks = report.tasks()
    shown = tasks if show_all else tasks[:TASKS_SHOWN]
    rows = [_task_row(o.as_json(), full_output) for o in shown]
    print_table(
        "Tasks",
        rows,
        ["tenant", "skill", "task_id", "outcome", "confidence", "attempts", "output", "reason"],
    )
    if len(shown) < len(tasks):
        out.print(
            f"{len(shown)} of {len(tasks)} tasks listed: --all lists every one, "
            "--out FILE.jsonl writes every task with its whole output, --json prints them."
        )
    if report.runs:
        run_rows = [_run_row(run_summary(run)) for run in report.runs]
        print_table(
            "Pipeline runs",
            run_rows,
            ["tenant", "pipeline", "run_id", "state", "steps", "reason"],
        )
        out.print("chimera pipeline show RUN_ID: every step's state, output and timings.")
    rows = report.rows()
    currency = report.pricing.currency
    for row in rows:
        row["cost"] = "?" if row["cost"] is None else f"{row['cost']:.6f} {currency}"
    print_table(
        f"Session {report.session}",
        rows,
        [
            "tenant",
            "skill",
            "tasks",
            "committed",
            "denied",
            "review",
            "dead_lettered",
            "cancelled",
            "retried",
            "p50_ms",
            "p95_ms",
            "input_tokens",
            "output_tokens",
            "cost",
        ],
    )
    unpriced = report.unpriced()
    if unpriced:
        out.print(
            f"no price for model(s) {', '.join(unpriced)}: pricing.models in the swarm file "
            "prices the models skills name in `model:`."
        )
    totals = report.totals()
    spend = report.spend()
    cost = "" if spend["cost"] is None else f", {spend['cost']:.6f} {spend['currency']}"
    out.print(
        f"{totals['tasks']} tasks in {report.elapsed_s:.2f}s: {totals['committed']} committed, "
        f"{totals['denied']} denied, {totals['review']} waiting for review, "
        f"{totals['dead_lettered']} dead-lettered"
        + (f", {totals['cancelled']} cancelled" if totals["cancelled"] else "")
        + f"; {spend['input_tokens']} input + {spend['output_tokens']} output tokens{cost}"
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


def _task_row(row: dict[str, Any], full_output: bool) -> dict[str, Any]:
    confidence = row["confidence"]
    row["confidence"] = None if confidence is None else f"{confidence:.3f}"
    output = row["output"]
    if output is not None:
        text = json.dumps(output, ensure_ascii=False)
        if not full_output and len(text) > OUTPUT_CHARS:
            text = text[: OUTPUT_CHARS - 1] + "…"
        row["output"] = text
    return row


def _run_row(summary: dict[str, Any]) -> dict[str, Any]:
    steps = summary["steps"]
    return {
        **summary,
        "steps": ", ".join(f"{name} {state}" for name, state in steps.items()),
        "reason": summary["reason"] or "",
    }
