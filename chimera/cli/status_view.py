"""What ``chimera status`` prints: a row per tenant, the live processes, and the live view.

Rows keep every figure for ``--json``; the table shows the ones an operator watches.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from chimera.services.status import TenantStatus

#: The tenant table's columns (``--json`` rows carry more: stream lengths, ``cancelled``,
#: ``tokens_today``…).
STATUS_COLUMNS = [
    "tenant",
    "access",
    "workers",
    "judges",
    "in_flight",
    "rate_per_s",
    "p95_ms",
    "tasks_lag",
    "tasks_pending",
    "results_pending",
    "delayed",
    "review",
    "dead_lettered",
    "committed",
    "denied",
    "throttled",
    "config",
]

#: The process table's columns.
PROCESS_COLUMNS = [
    "consumer",
    "roles",
    "host",
    "pid",
    "version",
    "tenants",
    "concurrency",
    "in_flight",
    "config",
    "started_at",
]


def status_row(status: TenantStatus, fingerprint: str) -> dict[str, Any]:
    """One tenant's figures as a flat row; ``config`` compares the processes' with ours.

    Args:
        status: the tenant's figures.
        fingerprint: the configuration digest of the swarm file this command loaded.
    """
    stats = status.stats
    if stats is None:
        row: dict[str, Any] = dict.fromkeys([*STATUS_COLUMNS, *_MORE])
        return {**row, "tenant": status.tenant, "access": "no permission", "error": status.denied}
    return {
        "tenant": status.tenant,
        "access": "ok",
        "workers": status.role_count("worker"),
        "judges": status.role_count("judge"),
        "in_flight": status.in_flight,
        "rate_per_s": status.rate,
        "p95_ms": status.p95_ms,
        "tasks": stats.tasks.length,
        "tasks_pending": stats.tasks.pending,
        "tasks_lag": stats.tasks.lag,
        "results": stats.results.length,
        "results_pending": stats.results.pending,
        "delayed": stats.delayed,
        "review": stats.review,
        "dead_lettered": stats.dead_lettered,
        "committed": stats.committed,
        "denied": status.denied_tasks,
        "cancelled": status.cancelled_tasks,
        "throttled": stats.throttled,
        "tokens_today": stats.tokens_today,
        "config": _config(status.fingerprints, fingerprint),
        "configs": status.fingerprints,
        "task_consumers": stats.tasks.consumers,
        "result_consumers": stats.results.consumers,
        "error": None,
    }


_MORE = ["tasks", "results", "configs", "task_consumers", "result_consumers"]


def _config(theirs: Sequence[str], ours: str) -> str:
    if not theirs:
        return "-"
    if list(theirs) == [ours]:
        return "same"
    return f"differs ({', '.join(theirs)}; this file: {ours})"


def process_rows(statuses: Sequence[TenantStatus]) -> list[dict[str, Any]]:
    """Every live process once (a process serving several tenants beats for each)."""
    seen: dict[str, dict[str, Any]] = {}
    for status in statuses:
        for beat in status.processes:
            seen.setdefault(
                beat.consumer,
                {
                    "consumer": beat.consumer,
                    "roles": ",".join(beat.roles),
                    "host": beat.host,
                    "pid": beat.pid,
                    "version": beat.version,
                    "tenants": ",".join(beat.tenants),
                    "concurrency": beat.concurrency,
                    "in_flight": beat.in_flight,
                    "config": beat.fingerprint,
                    "started_at": beat.started_at.isoformat(timespec="seconds"),
                },
            )
    return [seen[name] for name in sorted(seen)]


def status_tables(
    rows: Sequence[dict[str, Any]], processes: Sequence[dict[str, Any]], caption: str = ""
) -> Group:
    """The tenant table and the process table, as one renderable (for the live view)."""
    return Group(
        _table("Tenants", rows, STATUS_COLUMNS, caption),
        _table("Live processes", processes, PROCESS_COLUMNS),
    )


def _table(
    title: str, rows: Sequence[dict[str, Any]], columns: Sequence[str], caption: str = ""
) -> Table | Text:
    if not rows:
        return Text(f"{title}: none")
    table = Table(title=title, title_justify="left", caption=caption or None)
    for column in columns:
        numeric = all(isinstance(r.get(column), int | float) for r in rows)
        table.add_column(
            column, justify="right" if numeric else "left", no_wrap=column == "consumer"
        )
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    return table
