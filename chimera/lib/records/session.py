"""The session hash: lifecycle ``state``, ``created_at`` and the counters.

``state`` and ``created_at`` are written by the session store; the counters by the scripts
that change what they count, in the same atomic step (``fields.Counter``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from pydantic import ValidationError

from chimera.lib.fields import SESSION_CREATED_AT, SESSION_STATE, Counter
from chimera.lib.logging import get_logger
from chimera.lib.records import RecordError
from chimera.models.session import SessionInfo, SessionState

log = get_logger("chimera.records")


def encode_new(state: SessionState, created_at: datetime) -> dict[str, str]:
    """The fields a new session starts with (each written only if absent)."""
    return {
        SESSION_STATE: state.value,
        SESSION_CREATED_AT: created_at.isoformat().replace("+00:00", "Z"),
    }


def decode(tenant: str, session: str, fields: Mapping[str, str]) -> SessionInfo:
    """Read a session hash.

    A hash without a state reads as ``running``: the queue counts tasks into a session
    nobody opened. A counter below zero (a decrement that raced an increment) reads as 0.

    Raises:
        RecordError: an unknown state or a counter that is not a number.
    """
    try:
        state = SessionState(fields.get(SESSION_STATE, SessionState.RUNNING.value))
    except ValueError:
        raise RecordError(
            f"session {session!r} of tenant {tenant!r} has unknown state "
            f"{fields.get(SESSION_STATE)!r}"
        ) from None
    counters: dict[str, int] = {}
    for counter in Counter:
        text = fields.get(counter.value, "0")
        try:
            counters[counter.value] = max(0, int(text))
        except ValueError:
            raise RecordError(
                f"session {session!r} of tenant {tenant!r}: counter {counter.value} is {text!r}"
            ) from None
    try:
        return SessionInfo(tenant=tenant, session=session, stored_state=state, **counters)
    except ValidationError as exc:  # a tenant or session id that is not valid
        raise RecordError(f"session {session!r} of tenant {tenant!r}: {exc}") from None


def readable(tenant: str, hashes: Iterable[tuple[str, Mapping[str, str]]]) -> list[SessionInfo]:
    """The sessions among ``(session id, stored hash)`` pairs that exist and can be read.

    An empty hash (a session listed but never written) is skipped; one that cannot be read
    is left out with a warning saying why.
    """
    sessions = []
    for session, fields in hashes:
        if not fields:
            continue
        try:
            sessions.append(decode(tenant, session, fields))
        except RecordError as exc:
            log.warning("session.unreadable", tenant=tenant, session=session, problem=str(exc))
    return sessions
