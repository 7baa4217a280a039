"""In-memory audit: a hash-chained sink like the ``redis`` one, and a recording logger."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence

from chimera.lib.fields import AUDIT_HASH, AUDIT_SEQ
from chimera.lib.records import audit_record
from chimera.models.audit import GENESIS_HASH, AuditEvent, ChainCheck
from chimera.services.audit import AuditFailed
from chimera.testing.fakes.store import MemoryStore


class FakeAuditSink:
    """An audit sink keeping per-tenant hash chains in memory, and the trail to read them.

    Implements :class:`~chimera.ports.judge.AuditSink` and
    :class:`~chimera.ports.audit.AuditTrail`.

    Records are stored as the ``redis`` sink stores them (the tenant's ``audit`` stream of
    a :class:`MemoryStore`, and its head), and :meth:`read` checks them the same way, so a
    test can verify the trail a service wrote. Planned faults: ``"audit.write"``.
    """

    def __init__(self, store: MemoryStore | None = None, name: str = "memory") -> None:
        self.store = store or MemoryStore()
        self.name = name

    async def write(self, events: Sequence[AuditEvent]) -> None:
        """Append ``events`` to their tenants' chains, in order."""
        await asyncio.sleep(0)
        self.store.faults.check("audit.write")
        by_tenant: dict[str, list[AuditEvent]] = defaultdict(list)
        for event in events:
            by_tenant[event.tenant].append(event)
        now = self.store.now_ms()
        for tenant, tenant_events in by_tenant.items():
            data = self.store.tenant(tenant)
            seq = int(data.audit_head.get(AUDIT_SEQ, "0"))
            head = data.audit_head.get(AUDIT_HASH) or GENESIS_HASH
            # Each event id once, as the redis sink keeps it.
            fresh: dict[str, str] = {}
            for event in tenant_events:
                if event.id not in data.audit_ids:
                    fresh.setdefault(event.id, event.stored_json())
            if not fresh:
                continue
            links = audit_record.chain(seq, head, list(fresh.items()))
            for link in links:
                data.audit.add(audit_record.encode(link), now)
                data.audit_ids[link.event_id] = link.witness
            data.audit_head.update({AUDIT_SEQ: str(links[-1].seq), AUDIT_HASH: links[-1].hash})

    async def read(self, tenant: str, verify: bool = True) -> ChainCheck:
        """``tenant``'s records, oldest first; with ``verify``, where the chain breaks."""
        await asyncio.sleep(0)
        data = self.store.tenant(tenant)
        head = (int(data.audit_head.get(AUDIT_SEQ, "0")), data.audit_head.get(AUDIT_HASH, ""))
        return audit_record.check(list(data.audit), verify, head, dict(data.audit_ids))

    async def task_events(self, tenant: str, task_id: str) -> list[AuditEvent]:
        """The events of ``tenant``'s trail about ``task_id``, oldest first."""
        await asyncio.sleep(0)
        return audit_record.events_about(list(self.store.tenant(tenant).audit), task_id)

    def events(self, tenant: str) -> list[AuditEvent]:
        """The events stored for ``tenant`` so far (unverified)."""
        return [r.event for r in audit_record.check(self.store.tenant(tenant).audit, False).records]


class RecordingAuditLogger:
    """An :class:`~chimera.ports.judge.AuditLogger` that keeps what it is given.

    Set ``fail`` to make :meth:`record` raise ``AuditFailed`` as the real logger does when a
    sink fails (nothing is kept then).
    """

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []
        self.fail = False

    async def record(self, events: Sequence[AuditEvent]) -> None:
        """Keep ``events``, or raise ``AuditFailed`` when ``fail`` is set."""
        await asyncio.sleep(0)
        if self.fail:
            raise AuditFailed("audit sink 'recording' failed: told to fail")
        self.events.extend(events)
