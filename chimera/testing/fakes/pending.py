"""In-memory pending audit events: what the scripts keep beside what they change."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from chimera.models.audit import AuditEvent
from chimera.testing.fakes.store import MemoryStore, TenantData


def keep_pending(data: TenantData, event: AuditEvent | None) -> None:
    """What a script does with the event it is handed: keep it in the pending hash."""
    if event is not None:
        data.audit_pending[event.id] = event.model_dump_json()


class FakePendingAudit:
    """Implements :class:`~chimera.ports.audit.PendingAudit` over a :class:`MemoryStore`.

    Planned faults: ``"pending.stale"``, ``"pending.clear"``.
    """

    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    async def stale(self, tenant: str, older_than: datetime) -> list[AuditEvent]:
        """``tenant``'s pending events that happened before ``older_than``, oldest first."""
        await asyncio.sleep(0)
        self.store.faults.check("pending.stale")
        events = [
            AuditEvent.model_validate_json(body)
            for body in self.store.tenant(tenant).audit_pending.values()
        ]
        return sorted((e for e in events if e.at < older_than), key=lambda e: e.at)

    async def clear(self, events: Sequence[AuditEvent]) -> None:
        """Forget ``events``."""
        await asyncio.sleep(0)
        self.store.faults.check("pending.clear")
        for event in events:
            self.store.tenant(event.tenant).audit_pending.pop(event.id, None)
