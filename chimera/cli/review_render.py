"""How ``chimera review`` shows parked items: a listing row, and everything about one item."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click

from chimera.ports.stores import ReviewItem

#: Longest input summary in a listing row.
SUMMARY_CHARS = 60


def age_text(seconds: float) -> str:
    """``42s``, ``5m``, ``3h``, ``2d``: how long ago, roughly."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def list_row(tenant: str, item: ReviewItem, now: datetime) -> dict[str, Any]:
    """One row of ``review list`` (its ``--json`` row too)."""
    age = (now - item.decision.decided_at).total_seconds()
    return {
        "task_id": item.task.id,
        "tenant": tenant,
        "session": item.task.session,
        "skill": item.task.skill,
        "attempt": item.task.attempt,
        "parked_at": item.decision.decided_at.isoformat(),
        "age_s": round(age, 3),
        "age": age_text(age),
        "confidence": item.result.confidence,
        "reason": item.decision.reason,
        "input": item.task.input,
        "input_summary": summary(item.task.input),
        "output": item.result.output,
    }


def summary(value: Any) -> str:
    """``value`` as compact JSON, cut to :data:`SUMMARY_CHARS`."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"


def show_json(tenant: str, item: ReviewItem, budget: int, now: datetime) -> dict[str, Any]:
    """Everything ``review show --json`` prints about one item."""
    return {
        **list_row(tenant, item, now),
        "max_attempts": budget,
        "policy": item.decision.policy,
        "thresholds": item.decision.thresholds.model_dump() if item.decision.thresholds else None,
        "prompt": item.result.prompt,
        "previous": [p.model_dump(mode="json") for p in item.task.previous],
        "details": item.details,
    }


def print_item(tenant: str, item: ReviewItem, budget: int, now: datetime) -> None:
    """``review show``: the facts, the Judge's reason, input, prompt, output, history."""
    task, result, decision = item.task, item.result, item.decision
    age = age_text((now - decision.decided_at).total_seconds())
    click.echo(f"task {task.id}  tenant {tenant}  session {task.session}  skill {task.skill}")
    click.echo(
        f"attempt {task.attempt} of {budget} · waiting {age} · confidence {result.confidence:.3f}"
    )
    click.echo(f"judge ({decision.policy}): {decision.reason}")
    _block("input", json.dumps(task.input, indent=2, ensure_ascii=False))
    if task.feedback:
        _block("feedback given to this attempt", task.feedback)
    _block("prompt", result.prompt or "(not recorded)")
    _block("output", json.dumps(result.output, indent=2, ensure_ascii=False))
    for note in task.previous:
        lines = [f"sent back by {note.by} at {note.at.isoformat(timespec='seconds')}"]
        if note.confidence is not None:
            lines.append(f"confidence {note.confidence:.3f}")
        for label, text in (("feedback", note.feedback), ("error", note.error)):
            if text:
                lines.append(f"{label}: {text}")
        if note.output:
            lines.append(f"output: {note.output}")
        _block(f"earlier attempt {note.attempt}", "\n".join(lines))
    for name, value in item.details.items():
        _block(name.replace("_", " "), json.dumps(value, indent=2, ensure_ascii=False))


def _block(title: str, text: str) -> None:
    click.echo(f"{title}:")
    for line in text.splitlines() or [""]:
        click.echo(f"  {line}")
