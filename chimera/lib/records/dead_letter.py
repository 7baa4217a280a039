"""The dead letter: a task given up on, with why, stored as the ``body`` of a ``{T}:dlq`` entry.

Written by ``DEAD_LETTER_TASK`` (the Worker); read by ``chimera dlq list`` and ``replay``.
The stored JSON keeps the task as it was (or, for an entry that never decoded, why not
and a bounded excerpt of its bytes), the reason, the attempts and last error, and where it
came from.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from chimera.lib.logging import redact_text
from chimera.lib.records import RecordError
from chimera.lib.stream_entry import as_bytes, excerpt
from chimera.models.task import Task
from chimera.ports.judge import Unjudgeable
from chimera.ports.queue import DeadLetter, Delivery
from chimera.ports.stores import DeadLetterEntry


def encode(delivery: Delivery[Task], letter: DeadLetter) -> str:
    """The stored JSON for ``delivery`` given up on for ``letter``'s reason."""
    # Only a task of the tenant's ledger is kept as a task (and so replayable); anything
    # else is kept as a bounded excerpt of the entry.
    task = delivery.message if letter.in_ledger else None
    return json.dumps(
        {
            "entry_id": delivery.entry_id,
            "tenant": delivery.tenant,
            "task": json.loads(task.model_dump_json()) if task else None,
            "raw": None if task else redact_text(_excerpt(delivery)),
            "problem": delivery.problem,
            "reason": redact_text(letter.reason),
            "attempts": letter.attempts,
            "last_error": redact_text(letter.last_error) if letter.last_error else None,
            "deliveries": delivery.deliveries,
        }
    )


def _excerpt(delivery: Delivery[Task]) -> str:
    """A bounded copy of an entry that is kept instead of a task."""
    if delivery.message is None:
        return delivery.raw  # already the excerpt the entry was read as
    return excerpt(as_bytes(delivery.raw))


def as_task_entry(item: Unjudgeable) -> Delivery[Task]:
    """The task of a Result no Judge could judge, as the entry its dead letter names."""
    delivery = item.delivery
    return Delivery(
        tenant=delivery.tenant,
        entry_id=delivery.entry_id,
        message=item.task,
        deliveries=delivery.deliveries,
    )


def decode(entry_id: str, tenant: str, text: str) -> DeadLetterEntry:
    """Read a stored dead letter.

    A task that no longer validates (written by another chimera version) reads as
    ``task=None``, keeping everything else; the operator still sees why it died.

    Raises:
        RecordError: not a JSON object, or attempts that are not a number.
    """
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise RecordError(f"dead letter {entry_id} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise RecordError(f"dead letter {entry_id} is a JSON {type(data).__name__}")
    try:
        attempts = int(data.get("attempts", 0))
    except (TypeError, ValueError):
        raise RecordError(
            f"dead letter {entry_id}: attempts is {data.get('attempts')!r}, not a number"
        ) from None
    last_error = data.get("last_error")
    return DeadLetterEntry(
        entry_id=entry_id,
        tenant=tenant,
        task=_task(data.get("task")),
        reason=str(data.get("reason", "")),
        attempts=attempts,
        last_error=None if last_error is None else str(last_error),
        raw=data,
    )


def read(entry_id: str, tenant: str, text: str) -> DeadLetterEntry:
    """Read a stored dead letter; one that cannot be read is listed with the reason why.

    An unreadable entry has no task (so it is never replayed), attempts 0, the problem as
    its reason and the stored text under ``raw["body"]``.
    """
    try:
        return decode(entry_id, tenant, text)
    except RecordError as exc:
        return DeadLetterEntry(
            entry_id=entry_id,
            tenant=tenant,
            task=None,
            reason=f"unreadable dead letter: {exc}",
            attempts=0,
            last_error=None,
            raw={"body": text},
        )


def _task(value: Any) -> Task | None:
    if value is None:
        return None
    try:
        return Task.model_validate(value)
    except ValidationError:
        return None
