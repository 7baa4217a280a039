"""Typed audit events and the hash-chained record they are stored as."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, cast

from pydantic import BaseModel, ConfigDict, Field

from chimera.models.types import TenantId, new_id, utc_now

#: The ``prev`` of a tenant's first audit record.
GENESIS_HASH = "0" * 64


class AuditEventType(StrEnum):
    """Everything that happens to a task that someone may later have to explain."""

    SUBMITTED = "submitted"
    STARTED = "started"
    """No longer written (issue 14.1), still read in older trails; an
    attempt's start and Worker are now kept on the record that ends it."""
    RESULT = "result"
    DECISION = "decision"
    COMMITTED = "committed"
    DENIED = "denied"
    DUPLICATE = "duplicate"
    REVIEW = "review"
    HUMAN_DECISION = "human_decision"
    RETRIED = "retried"
    RECLAIMED = "reclaimed"
    DEAD_LETTERED = "dead_lettered"
    REPLAYED = "replayed"
    TOOL_CALL = "tool_call"
    RESUMED = "resumed"
    CANCEL_REQUESTED = "cancel_requested"
    CANCELLED = "cancelled"
    QUOTA_REFUSED = "quota_refused"
    QUOTA_THROTTLED = "quota_throttled"
    QUOTA_RELEASED = "quota_released"
    RUN_STARTED = "run_started"
    """A pipeline run began: ``data`` holds the pipeline and the run's input."""
    STEP_ENQUEUED = "step_enqueued"
    """A step of a run became ready: ``data`` holds the run, the step and its task ids."""
    RUN_FINISHED = "run_finished"
    """A run succeeded, failed or was cancelled: ``data`` holds the outcome and reason."""
    CHECKPOINT = "checkpoint"
    """Records before this one were trimmed away (retention); ``data`` holds the ``seq`` and
    ``hash`` of the last of them, which the oldest record kept links to."""


class AuditEvent(BaseModel):
    """One thing that happened, with the ids that tie it to a tenant, session, task and trace.

    ``id`` names the event itself. Whoever may emit the same event twice (a write retried
    after a lost reply, a Result judged again after a crash) gives it the same id each
    time, built from what it is about (:func:`event_id`), and the ``redis`` sink stores an
    id once: the trail then holds every event exactly once.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    # A slot, not a field nor a private attribute: the cached JSON is no part of the
    # event's value (equality, copies and pickles ignore it) and costs nothing unset.
    __slots__ = ("_json",)

    id: str = Field(default_factory=new_id, min_length=1, max_length=300)
    type: AuditEventType
    tenant: TenantId
    session: str | None = None
    task_id: str | None = None
    trace_id: str | None = None
    actor: str = "chimera"
    at: datetime = Field(default_factory=utc_now)
    # Any, not JsonValue: validating each value against the JSON union cost more than the
    # rest of the event; a value that is not JSON fails when a sink serialises the event.
    data: dict[str, Any] = Field(default_factory=dict)

    def stored_json(self) -> str:
        """The event's JSON, serialised on the first call and the same string after.

        An event is kept pending and then appended to the chain (and written to every
        sink): serialised once, each of them stores (and the chain hashes) the same
        bytes. Events are not changed once made (the model is frozen; nobody edits
        ``data`` in place), so the string stays the event's. ``model_copy`` starts afresh.
        """
        try:
            # Read through the slot itself: an unset slot read as ``self._json`` falls back
            # to pydantic's ``__getattr__``, several times the cost of the rest.
            return cast("str", _JSON_SLOT.__get__(self, AuditEvent))
        except AttributeError:
            text = self.model_dump_json()
            _JSON_SLOT.__set__(self, text)  # the model is frozen; its slot is not
            return text


_JSON_SLOT = AuditEvent.__dict__["_json"]


class AuditRecord(BaseModel):
    """An :class:`AuditEvent` as stored: numbered per tenant and chained by hash.

    ``hash`` is SHA-256 over ``prev`` and the canonical JSON of ``seq`` and ``event``,
    so altering, removing or reordering any stored record breaks every later link.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    seq: int = Field(ge=1)
    prev: str
    hash: str
    event: AuditEvent

    @staticmethod
    def digest(prev: str, seq: int, event_json: str) -> str:
        """Compute the chain hash of a record from its predecessor's hash.

        The hash covers the event's JSON exactly as stored: the writer hashes the string it
        stores, and a verifier hashes the string it reads, so no re-serialisation (which
        another version of a library might spell differently) stands between them.
        """
        return hashlib.sha256(f"{prev}\n{seq}\n{event_json}".encode()).hexdigest()

    def verify(self, prev: str, event_json: str | None = None) -> bool:
        """Tell whether this record links correctly to a predecessor with hash ``prev``.

        Args:
            prev: the hash of the record before it.
            event_json: the event as stored; re-serialised from ``event`` when not given.
        """
        stored = event_json if event_json is not None else self.event.model_dump_json()
        return self.prev == prev and self.hash == self.digest(prev, self.seq, stored)


def event_id(kind: AuditEventType | str, *parts: object) -> str:
    """The id of an event that may be emitted more than once: its kind and what it is about.

    ``event_id(AuditEventType.DECISION, task_id, attempt)`` is the same string each time the
    Judge records its decision on that attempt, so a retried write is stored once.
    """
    # A StrEnum member is the string of its value: joined as it is, without ``.value``
    # (an enum descriptor lookup) on every event.
    return ":".join([kind, *map(str, parts)])


@dataclass(frozen=True)
class ChainCheck:
    """The records of one audit chain, and where (if anywhere) the chain first breaks.

    ``broken_at`` counts in the store's own unit: the sequence number for the Redis
    stream, the line number for a JSONL file.
    """

    records: list[AuditRecord]
    broken_at: int | None
    problem: str | None
    start_seq: int = 0
    """The seq of the last record trimmed away behind a checkpoint (0: none was)."""

    @property
    def ok(self) -> bool:
        """True when every record links to the one before."""
        return self.broken_at is None


def link_problem(
    record: AuditRecord, prev: str, expected_seq: int, event_json: str | None = None
) -> str | None:
    """Why ``record`` does not follow a record with hash ``prev``, or ``None`` if it does.

    ``event_json`` is the event as stored, when the caller has it.
    """
    if record.seq != expected_seq:
        return f"expected seq {expected_seq}, found {record.seq}"
    if not record.verify(prev, event_json):
        return f"(seq {record.seq}): hash does not match its content; the chain breaks here"
    return None
