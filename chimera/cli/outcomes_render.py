"""How the commands that follow tasks print outcomes, and the exit code of ``submit --wait``."""

from __future__ import annotations

import json
from collections.abc import Sequence

import click

from chimera.ports.stores import TaskState
from chimera.services.outcomes import Outcome

#: ``submit --wait`` exit codes by outcome; several tasks exit with the first of these
#: (in this order) that one of them ended in, else 0 (every task committed).
WAIT_EXIT_CODES: tuple[tuple[TaskState, int], ...] = (
    (TaskState.PENDING, 124),  # still running at --timeout (as timeout(1) exits)
    (TaskState.DEAD_LETTERED, 5),
    (TaskState.CANCELLED, 6),
    (TaskState.DENIED, 3),
    (TaskState.REVIEW, 4),
)


def wait_exit_code(outcomes: Sequence[Outcome]) -> int:
    """The exit code of ``submit --wait`` for ``outcomes`` (see :data:`WAIT_EXIT_CODES`)."""
    states = {outcome.state for outcome in outcomes}
    for state, code in WAIT_EXIT_CODES:
        if state in states:
            return code
    return 0


def outcome_line(outcome: Outcome) -> str:
    """One line: ``TASK_ID STATE`` and the output (committed, review) or the reason."""
    line = f"{outcome.task_id} {outcome.state.value}"
    if outcome.output is not None:
        return f"{line} {json.dumps(outcome.output, ensure_ascii=False)}"
    if outcome.state is TaskState.PENDING:
        return f"{line} (still running: timed out waiting)"
    return f"{line} ({outcome.reason})" if outcome.reason else line


def print_outcome(outcome: Outcome) -> None:
    """``chimera results --task``: the task's facts, then its output and earlier attempts."""
    rows = [
        ("task", outcome.task_id),
        ("tenant", outcome.tenant),
        ("session", outcome.session),
        ("skill", outcome.skill),
        ("state", outcome.state.value),
        ("attempt", outcome.attempt),
        ("confidence", outcome.confidence),
        ("reason", outcome.reason),
    ]
    for name, value in rows:
        if value is not None:
            click.echo(f"{name}: {value}")
    if outcome.output is not None:
        click.echo("output:")
        click.echo(_indented(json.dumps(outcome.output, indent=2, ensure_ascii=False)))
    if outcome.result is not None and outcome.result.prompt:
        click.echo("prompt:")
        click.echo(_indented(outcome.result.prompt))
    previous = outcome.task.previous if outcome.task is not None else []
    for note in previous:
        click.echo(f"earlier attempt {note.attempt} (sent back by {note.by}):")
        for label, text in (("feedback", note.feedback), ("error", note.error)):
            if text:
                click.echo(f"  {label}: {text}")
        if note.output:
            click.echo(f"  output: {note.output}")


def _indented(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())
