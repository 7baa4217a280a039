"""Every name stored *inside* chimera's Redis keys, defined once: fields, counters, states.

``keys.py`` names the keys; this module names what is in them. Python code uses these
constants, and the Lua scripts get them rendered into their source when they are loaded
(see :func:`lua_names` and ``chimera/lib/lua/``), so a name cannot be spelt one way in
Python and another in Lua.
"""

from __future__ import annotations

from enum import StrEnum

from chimera.models.audit import AuditEventType
from chimera.models.session import SessionState
from chimera.ports.judge import CommitOutcome

#: Field of a stream entry holding the model as JSON (tasks, results, dead letters).
BODY = "body"
#: Field of a task stream entry holding the W3C trace context it was enqueued under.
TRACEPARENT = "traceparent"

#: Fields of an audit stream entry, and (``seq``, ``hash``) of the audit head hash.
AUDIT_SEQ = "seq"
AUDIT_PREV = "prev"
AUDIT_HASH = "hash"
AUDIT_EVENT = "event"

#: Fields of a session hash besides its counters.
SESSION_STATE = "state"
SESSION_CREATED_AT = "created_at"

#: Fields of a tenant's quota hash: the token bucket (tokens left, when counted, in epoch
#: seconds of the server's clock) and the limit holding the tenant back, if one is.
QUOTA_TOKENS = "tokens"
QUOTA_AT = "at"
QUOTA_THROTTLED = "throttled"

#: The session a script is handed for an item whose task could not be decoded. The
#: scripts never write to it (they only count tasks they know).
UNKNOWN_SESSION = "unknown"


class Counter(StrEnum):
    """Counters of a session hash, each moved in the same atomic step as what it counts."""

    SUBMITTED = "submitted"
    COMMITTED = "committed"
    DENIED = "denied"
    REVIEW = "review"
    RETRIED = "retried"
    DEAD_LETTERED = "dead_lettered"
    CANCELLED = "cancelled"
    TOKENS = "tokens"
    """LLM tokens (prompt and completion) of the session's published Results; counted in
    the same round trip as the publishing, right after it (``count_usage.lua``)."""


class Settled(StrEnum):
    """How a task ended, as the ``settled`` hash records it."""

    COMMITTED = "committed"
    DENIED = "denied"
    DEAD_LETTERED = "dead_lettered"
    CANCELLED = "cancelled"


class JudgeAction(StrEnum):
    """What ``JUDGE_APPLY`` is asked to do with one judged Result."""

    APPROVE = "approve"
    DENY = "deny"
    REVIEW = "review"
    RETRY = "retry"
    REJECT = "reject"
    """Not a live task of this tenant (forged, stale, undecodable): only ack it."""


class ReviewChoice(StrEnum):
    """A human's choice on a parked Result (``REVIEW_DECIDE``)."""

    APPROVE = "approve"
    REJECT = "reject"


class ReviewReply(StrEnum):
    """What ``REVIEW_DECIDE`` did."""

    COMMITTED = "committed"
    DENIED = "denied"
    DUPLICATE = "duplicate"
    MISSING = "missing"
    """Nothing parked under that id: someone else decided first."""


class AdmitReply(StrEnum):
    """What ``ADMIT_TASKS`` says of one task entry."""

    RUN = "run"
    HALTED = "halted"
    UNKNOWN = "unknown"
    """No ledger row and not settled: forged, another tenant's, or never submitted."""
    SETTLED = "settled"
    REVIEW = "review"
    STALE = "stale"
    """The ledger row is not the entry's body: a copy of another attempt."""


def lua_names() -> dict[str, str]:
    """The names the Lua scripts may use, by placeholder (``$BODY`` → ``body``).

    Placeholders are upper-case: the stream and hash fields by their constant's name, then
    ``COUNT_<counter>``, ``SETTLED_<state>``, ``ACTION_<action>``, ``OUTCOME_<outcome>``
    (the Judge's :class:`~chimera.ports.judge.CommitOutcome`), ``CHOICE_<choice>``,
    ``REVIEW_<reply>`` and ``ADMIT_<reply>``; ``EVENT_DUPLICATE`` is the audit event type
    of a duplicate.
    """
    names = {
        "BODY": BODY,
        "TRACEPARENT": TRACEPARENT,
        "AUDIT_SEQ": AUDIT_SEQ,
        "AUDIT_PREV": AUDIT_PREV,
        "AUDIT_HASH": AUDIT_HASH,
        "AUDIT_EVENT": AUDIT_EVENT,
        "SESSION_STATE": SESSION_STATE,
        "SESSION_HALTED": SessionState.HALTED.value,
        "SESSION_RUNNING": SessionState.RUNNING.value,
        "QUOTA_TOKENS": QUOTA_TOKENS,
        "QUOTA_AT": QUOTA_AT,
        "QUOTA_THROTTLED": QUOTA_THROTTLED,
        "EVENT_DUPLICATE": AuditEventType.DUPLICATE.value,
    }
    groups: list[tuple[str, type[StrEnum]]] = [
        ("COUNT", Counter),
        ("SETTLED", Settled),
        ("ACTION", JudgeAction),
        ("OUTCOME", CommitOutcome),
        ("CHOICE", ReviewChoice),
        ("REVIEW", ReviewReply),
        ("ADMIT", AdmitReply),
    ]
    for prefix, enum in groups:
        names.update({f"{prefix}_{member.name}": member.value for member in enum})
    return names
