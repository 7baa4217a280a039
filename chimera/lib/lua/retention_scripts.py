"""Typed wrappers of the retention scripts: scans and trims that keep what is still needed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from chimera.lib.keys import TenantKeys
from chimera.lib.lua.audit_scripts import AppendReply
from chimera.lib.lua.source import load
from chimera.lib.lua.wrapper import ScriptKeys, as_count, as_flag
from chimera.lib.records.audit_record import ChainLink
from chimera.lib.redis_lua import Call, Lua

SCAN_IDS = load("scan_ids")
TRIM_COMMITTED = load("trim_committed")
TRIM_SETTLED = load("trim_settled")
TRIM_SESSION = load("trim_session")
COUNT_BEFORE = load("count_before")
RETENTION_LEASE = load("retention_lease")
TRIM_AUDIT = load("trim_audit")


@dataclass(frozen=True)
class ScanStep:
    """One step of a scan: where the next one starts (``"0"``: done) and what it found."""

    cursor: str
    removed: int = 0
    prefixes: tuple[str, ...] = ()


def as_scan_ids(reply: Any) -> ScanStep:
    """A ``SCAN_IDS`` reply: ``{cursor, prefix...}``."""
    return ScanStep(str(reply[0]), prefixes=tuple(str(p) for p in reply[1:]))


def as_trim_step(reply: Any) -> ScanStep:
    """A ``TRIM_*`` reply: ``{cursor, removed}``."""
    return ScanStep(str(reply[0]), removed=int(reply[1]))


@dataclass(frozen=True)
class ScanIds(ScriptKeys):
    """``scan_ids.lua``: the ULID time prefixes of one step of a hash keyed by task id."""

    SCRIPT: ClassVar[Lua] = SCAN_IDS

    records: str

    def call(self, *, cursor: str, count: int) -> Call[ScanStep]:
        """Reply: see :class:`ScanStep` (``prefixes``)."""
        return self._call(as_scan_ids, cursor=cursor, count=count)


@dataclass(frozen=True)
class TrimCommitted(ScriptKeys):
    """``trim_committed.lua``: one step of removing committed Results older than a time."""

    SCRIPT: ClassVar[Lua] = TRIM_COMMITTED

    ledger: str
    committed: str

    @classmethod
    def of(cls, keys: TenantKeys) -> TrimCommitted:
        """The keys of ``keys``' tenant."""
        return cls(ledger=keys.ledger, committed=keys.committed)

    def call(self, *, cursor: str, count: int, before: str, dry_run: bool) -> Call[ScanStep]:
        """Reply: see :class:`ScanStep` (``removed``)."""
        return self._call(
            as_trim_step, cursor=cursor, count=count, before=before, dry_run=int(dry_run)
        )


@dataclass(frozen=True)
class TrimSettled(ScriptKeys):
    """``trim_settled.lua``: one step of removing settled marks older than a time."""

    SCRIPT: ClassVar[Lua] = TRIM_SETTLED

    ledger: str
    settled: str
    cancelled: str

    @classmethod
    def of(cls, keys: TenantKeys) -> TrimSettled:
        """The keys of ``keys``' tenant."""
        return cls(ledger=keys.ledger, settled=keys.settled, cancelled=keys.cancelled)

    def call(self, *, cursor: str, count: int, before: str, dry_run: bool) -> Call[ScanStep]:
        """Reply: see :class:`ScanStep` (``removed``)."""
        return self._call(
            as_trim_step, cursor=cursor, count=count, before=before, dry_run=int(dry_run)
        )


@dataclass(frozen=True)
class TrimSession(ScriptKeys):
    """``trim_session.lua``: forget one session if it has finished."""

    SCRIPT: ClassVar[Lua] = TRIM_SESSION

    session: str
    sessions: str
    session_tasks: str

    @classmethod
    def of(cls, keys: TenantKeys, session_id: str) -> TrimSession:
        """The keys of ``session_id``."""
        return cls(
            session=keys.session(session_id),
            sessions=keys.sessions,
            session_tasks=keys.session_tasks(session_id),
        )

    def call(self, *, session_id: str, dry_run: bool) -> Call[bool]:
        """Reply: whether the session was (or would be) forgotten."""
        return self._call(as_flag, session_id=session_id, dry_run=int(dry_run))


@dataclass(frozen=True)
class CountBefore(ScriptKeys):
    """``count_before.lua``: how many entries of a stream have ids below ``before``."""

    SCRIPT: ClassVar[Lua] = COUNT_BEFORE

    stream: str

    def call(self, *, before: str) -> Call[int]:
        """Reply: the count."""
        return self._call(as_count, before=before)


@dataclass(frozen=True)
class RetentionLease(ScriptKeys):
    """``retention_lease.lua``: extend (``ttl_ms`` > 0) or drop (0) our sweeping lease."""

    SCRIPT: ClassVar[Lua] = RETENTION_LEASE

    retention_lock: str

    def call(self, *, owner: str, ttl_ms: int) -> Call[bool]:
        """Reply: whether the lease was still ours."""
        return self._call(as_flag, owner=owner, ttl_ms=ttl_ms)


@dataclass(frozen=True)
class TrimReply(AppendReply):
    """Whether the audit trim happened (``status`` 1) and the chain head after the call.

    ``status``: 0 the head moved, 2 the record to trim through changed, 3 an event waits.
    """

    status: int = 1


def as_trim_reply(reply: Any) -> TrimReply:
    """A ``TRIM_AUDIT`` reply: ``{status, head seq, head hash}``."""
    status = int(reply[0])
    return TrimReply(status == 1, int(reply[1]), str(reply[2]), status=status)


@dataclass(frozen=True)
class TrimAudit(ScriptKeys):
    """``trim_audit.lua``: trim the audit stream through one record, behind a checkpoint."""

    SCRIPT: ClassVar[Lua] = TRIM_AUDIT

    audit: str
    audit_head: str
    audit_ids: str
    audit_pending: str
    audit_checkpoint: str

    @classmethod
    def of(cls, keys: TenantKeys) -> TrimAudit:
        """The keys of ``keys``' tenant."""
        return cls(
            audit=keys.audit,
            audit_head=keys.audit_head,
            audit_ids=keys.audit_ids,
            audit_pending=keys.audit_pending,
            audit_checkpoint=keys.audit_checkpoint,
        )

    def call(
        self,
        *,
        expected_seq: int,
        through_entry: str,
        through_seq: int,
        through_hash: str,
        checkpoint: ChainLink,
        trimmed_ids: Sequence[str],
    ) -> Call[TrimReply]:
        """Reply: see :class:`TrimReply`."""
        return self._call(
            as_trim_reply,
            list(trimmed_ids),
            expected_seq=expected_seq,
            through_entry=through_entry,
            through_seq=through_seq,
            through_hash=through_hash,
            record_seq=checkpoint.seq,
            record_prev=checkpoint.prev,
            record_hash=checkpoint.hash,
            record_id=checkpoint.event_id,
            record_json=checkpoint.event_json,
        )
