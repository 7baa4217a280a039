"""Typed wrappers of the scripts of operators, admission and quotas.

Cancel, send a reviewed task back, read within a tenant's quotas, count token usage.

What each script checks and does is written at the top of its ``.lua`` file.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

from chimera.lib.keys import TenantKeys
from chimera.lib.lua.source import load
from chimera.lib.lua.wrapper import PendingEvent, ScriptKeys, as_count, pending_args
from chimera.lib.redis_lua import Call, Lua

CANCEL_TASK = load("cancel_task")
REVIEW_RETRY = load("review_retry")
READ_TASKS = load("read_tasks")
COUNT_USAGE = load("count_usage")


def as_text(reply: object) -> str:
    """A status word reply."""
    return str(reply)


@dataclass(frozen=True)
class CancelTask(ScriptKeys):
    """``cancel_task.lua``: cancel one task that has not settled."""

    SCRIPT: ClassVar[Lua] = CANCEL_TASK

    ledger: str
    settled: str
    review: str
    delayed: str
    delayed_traces: str
    cancelled: str
    session: str
    audit_pending: str

    @classmethod
    def of(cls, keys: TenantKeys, session_id: str) -> CancelTask:
        """The keys of a task of ``session_id``."""
        return cls(
            ledger=keys.ledger,
            settled=keys.settled,
            review=keys.review,
            delayed=keys.delayed,
            delayed_traces=keys.delayed_traces,
            cancelled=keys.cancelled,
            session=keys.session(session_id),
            audit_pending=keys.audit_pending,
        )

    def call(self, *, task_id: str, note_json: str, event: PendingEvent = None) -> Call[str]:
        """Reply: ``cancelled`` (the event kept pending), ``unknown`` or ``already:<state>``."""
        event_id, event_json = pending_args(event)
        return self._call(
            as_text,
            task_id=task_id,
            note_json=note_json,
            event_id=event_id,
            event_json=event_json,
        )


@dataclass(frozen=True)
class ReviewRetry(ScriptKeys):
    """``review_retry.lua``: send a parked Result back for another attempt."""

    SCRIPT: ClassVar[Lua] = REVIEW_RETRY

    tasks: str
    ledger: str
    review: str
    session: str
    audit_pending: str

    @classmethod
    def of(cls, keys: TenantKeys, session_id: str) -> ReviewRetry:
        """The keys of a task of ``session_id``."""
        return cls(
            tasks=keys.tasks,
            ledger=keys.ledger,
            review=keys.review,
            session=keys.session(session_id),
            audit_pending=keys.audit_pending,
        )

    def call(
        self,
        *,
        task_id: str,
        next_json: str,
        event: PendingEvent = None,
        count_retry: bool = True,
    ) -> Call[str]:
        """Reply: ``retried`` (the event kept pending) or ``missing``.

        ``count_retry=False`` sends a task back that goes on as the same attempt (a
        resumed conversation): no retry is counted.
        """
        event_id, event_json = pending_args(event)
        return self._call(
            as_text,
            task_id=task_id,
            next_json=next_json,
            event_id=event_id,
            event_json=event_json,
            count_retry="1" if count_retry else "0",
        )


@dataclass(frozen=True)
class QuotaRead:
    """A ``READ_TASKS`` reply: the entries read and the state of the tenant's limits.

    The reply is read undecoded (bytes), so one entry that is not UTF-8 cannot fail the
    batch; each entry is decoded on its own by the caller (``lib/stream_entry``).

    Attributes:
        entries: ``(entry id, fields)`` per entry read, oldest first, as stored (bytes).
        limited: the limit that held this read back (``rate``, ``in_flight``), or ``""``.
        retry_ms: ms until the token bucket has a token (0: not known or not needed).
        change: ``throttled``, ``released`` or ``""``.
        about: the limit the change is about.
        newest: the newest entry id of the stream (``0-0`` when empty).
    """

    entries: list[tuple[bytes | str, dict[Any, Any]]]
    limited: str
    retry_ms: int
    change: str
    about: str
    newest: str


def _text(value: Any) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def as_quota_read(reply: Any) -> QuotaRead:
    """Read a ``READ_TASKS`` reply (bytes, or text from a client that decodes)."""
    raw_entries, limited, retry_ms, change, about, newest = reply
    entries = []
    for entry_id, flat in raw_entries or []:
        values = list(flat or [])
        entries.append((entry_id, dict(zip(values[::2], values[1::2], strict=True))))
    return QuotaRead(
        entries, _text(limited), int(retry_ms), _text(change), _text(about), _text(newest)
    )


@dataclass(frozen=True)
class ReadTasks(ScriptKeys):
    """``read_tasks.lua``: read a tenant's new entries within its quotas."""

    SCRIPT: ClassVar[Lua] = READ_TASKS

    tasks: str
    quota: str

    @classmethod
    def of(cls, keys: TenantKeys) -> ReadTasks:
        """The keys of ``keys``' tenant."""
        return cls(tasks=keys.tasks, quota=keys.quota)

    def call(
        self,
        *,
        group: str,
        consumer: str,
        count: int,
        max_in_flight: int,
        rate: float,
        burst: int,
    ) -> Call[QuotaRead]:
        """``count`` > 0; a limit of 0 is no limit. Reply: see :class:`QuotaRead`."""
        call = self._call(
            as_quota_read,
            group=group,
            consumer=consumer,
            count=count,
            max_in_flight=max_in_flight,
            rate=rate,
            burst=burst,
        )
        return replace(call, undecoded=True)


@dataclass(frozen=True)
class CountUsage(ScriptKeys):
    """``count_usage.lua``: add published Results' tokens to their day and session."""

    SCRIPT: ClassVar[Lua] = COUNT_USAGE

    usage: str
    session: str

    @classmethod
    def of(cls, keys: TenantKeys, session_id: str) -> CountUsage:
        """The keys of ``session_id`` of ``keys``' tenant."""
        return cls(usage=keys.usage, session=keys.session(session_id))

    def call(self, *, day: str, tokens: int) -> Call[int]:
        """Reply: the day's total after counting."""
        return self._call(as_count, day=day, tokens=tokens)
