"""The cancellation: who cancelled a task, why and when, as JSON under its id in ``{T}:cancelled``.

Written by ``CANCEL_TASK`` in the same step that settles the task ``cancelled``; read by task
lookups (``chimera results --task``, ``get_task``, the Python client).
"""

from __future__ import annotations

import json
from datetime import datetime

from chimera.lib.records import RecordError
from chimera.ports.stores import Cancellation


def encode(note: Cancellation) -> str:
    """The stored JSON of ``note``."""
    return json.dumps(
        {
            "actor": note.actor,
            "reason": note.reason,
            "at": note.at.isoformat().replace("+00:00", "Z"),
        }
    )


def decode(text: str) -> Cancellation:
    """Read a stored cancellation.

    Raises:
        RecordError: not a JSON object with an actor and a time.
    """
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise RecordError(f"cancellation is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise RecordError(f"cancellation is a JSON {type(data).__name__}, not an object")
    actor, reason, at = data.get("actor"), data.get("reason"), data.get("at")
    if not isinstance(actor, str) or not isinstance(at, str):
        raise RecordError("cancellation has no actor or no time")
    if reason is not None and not isinstance(reason, str):
        raise RecordError("cancellation reason is not text")
    try:
        when = datetime.fromisoformat(at)
    except ValueError:
        raise RecordError(f"cancellation time {at!r} is not an ISO time") from None
    return Cancellation(actor=actor, reason=reason, at=when)
