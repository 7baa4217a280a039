"""The audit record: one hash-chained entry of a tenant's audit stream.

Fields ``seq``, ``prev``, ``hash`` and ``event`` (the event's JSON), appended by
``AUDIT_APPEND`` after a compare-and-set on the head (``seq``, ``hash``). The hash is
SHA-256 (:meth:`~chimera.models.audit.AuditRecord.digest`), computed by the writer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from chimera.lib.fields import AUDIT_EVENT, AUDIT_HASH, AUDIT_PREV, AUDIT_SEQ
from chimera.models.audit import (
    GENESIS_HASH,
    AuditEvent,
    AuditEventType,
    AuditRecord,
    ChainCheck,
    link_problem,
)


@dataclass(frozen=True)
class ChainLink:
    """One record to append: its number, its predecessor's hash, its hash, its event."""

    seq: int
    prev: str
    hash: str
    event_id: str
    event_json: str

    @property
    def witness(self) -> str:
        """What the ids hash keeps for this record: ``seq:hash``."""
        return f"{self.seq}:{self.hash}"


def chain(head_seq: int, head_hash: str, events: Sequence[tuple[str, str]]) -> list[ChainLink]:
    """Link ``(event id, event JSON)`` pairs after the head ``(head_seq, head_hash)``."""
    links: list[ChainLink] = []
    prev = head_hash
    for offset, (event_id, body) in enumerate(events, start=1):
        digest = AuditRecord.digest(prev, head_seq + offset, body)
        links.append(ChainLink(head_seq + offset, prev, digest, event_id, body))
        prev = digest
    return links


def encode(link: ChainLink) -> dict[str, str]:
    """The stream fields of ``link``."""
    return {
        AUDIT_SEQ: str(link.seq),
        AUDIT_PREV: link.prev,
        AUDIT_HASH: link.hash,
        AUDIT_EVENT: link.event_json,
    }


def check(
    entries: Iterable[tuple[str, dict[str, str]]],
    verify: bool = True,
    head: tuple[int, str] | None = None,
    witnesses: Mapping[str, str] | None = None,
    checkpoint: tuple[int, str] | None = None,
) -> ChainCheck:
    """Read the entries of an audit stream in order and (with ``verify``) check every link.

    A malformed entry breaks the chain where it stands and is left out of the records.
    With the chain's ``head`` (seq and hash), records missing from the end are found; with
    the ``witnesses`` (event id → ``seq:hash``), a record whose content was altered and
    re-hashed is blamed itself rather than the record after it. With a ``checkpoint`` (the
    seq and hash of the last record trimmed away), the chain starts there instead of at the
    genesis, and its newest ``checkpoint`` record must name that same seq and hash.

    Returns:
        The records, and the sequence number (and reason) of the first broken entry.
    """
    records: list[AuditRecord] = []
    start_seq, prev = checkpoint if checkpoint is not None else (0, GENESIS_HASH)
    expected_seq = start_seq + 1
    broken_at: int | None = None
    problem: str | None = None
    for entry_id, fields in entries:
        try:
            record = AuditRecord(
                seq=int(fields[AUDIT_SEQ]),
                prev=fields[AUDIT_PREV],
                hash=fields[AUDIT_HASH],
                event=AuditEvent.model_validate_json(fields[AUDIT_EVENT]),
            )
        except (KeyError, ValueError) as exc:
            if broken_at is None:
                broken_at, problem = expected_seq, f"entry {entry_id} is malformed: {exc}"
            continue
        records.append(record)
        if verify and broken_at is None:
            stored = fields[AUDIT_EVENT]
            found = _witness_problem(record, witnesses) or link_problem(
                record, prev, expected_seq, stored
            )
            if found is not None:
                broken_at, problem = min(expected_seq, record.seq), f"entry {entry_id}: {found}"
        prev, expected_seq = record.hash, record.seq + 1
    if verify and broken_at is None and checkpoint is not None:
        problem = _checkpoint_problem(records, checkpoint)
        if problem is not None:
            broken_at = start_seq + 1
    if verify and broken_at is None and head is not None:
        last = (records[-1].seq, records[-1].hash) if records else (start_seq, prev)
        head_seq, head_hash = head
        if head_seq != last[0] or (head_seq and head_hash != last[1]):
            broken_at = last[0] + 1
            problem = (
                f"the chain's head is seq {head_seq} but the stream ends at seq {last[0]}: "
                "records are missing from the end"
            )
    return ChainCheck(records=records, broken_at=broken_at, problem=problem, start_seq=start_seq)


def _checkpoint_problem(records: Sequence[AuditRecord], checkpoint: tuple[int, str]) -> str | None:
    """Why the chain's newest ``checkpoint`` record does not vouch for ``checkpoint``."""
    seq, digest = checkpoint
    for record in reversed(records):
        if record.event.type is AuditEventType.CHECKPOINT:
            named = (record.event.data.get("seq"), record.event.data.get("hash"))
            if named == (seq, digest):
                return None
            return (
                f"the trail was trimmed through seq {seq}, but its newest checkpoint record "
                f"(seq {record.seq}) names seq {named[0]}: the checkpoint was altered"
            )
    return (
        f"the trail was trimmed through seq {seq}, but no checkpoint record in it says so: "
        "records were removed without a checkpoint"
    )


def events_about(
    entries: Iterable[tuple[str, Mapping[str, str]]], task_id: str
) -> list[AuditEvent]:
    """The events among ``entries`` about ``task_id``, oldest first (no chain check).

    Only entries whose stored text mentions the id are parsed: the rest of a long trail
    costs a substring search each. Malformed entries are skipped (``chimera audit
    --verify`` is the place that reports them).
    """
    found: list[AuditEvent] = []
    for _entry_id, fields in entries:
        body = fields.get(AUDIT_EVENT)
        if body is None or task_id not in body:
            continue
        try:
            event = AuditEvent.model_validate_json(body)
        except ValueError:
            continue
        if event.task_id == task_id:
            found.append(event)
    return found


def _witness_problem(record: AuditRecord, witnesses: Mapping[str, str] | None) -> str | None:
    if witnesses is None:
        return None
    kept = witnesses.get(record.event.id)
    if kept is None:
        return f"(seq {record.seq}): no witness of event {record.event.id!r}"
    if kept != f"{record.seq}:{record.hash}":
        return (
            f"(seq {record.seq}): its hash is not the one written with it "
            "(the record was altered and re-hashed)"
        )
    return None
