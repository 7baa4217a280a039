"""Dead letters: list them, and replay them with their attempts reset (audited)."""

from __future__ import annotations

from collections.abc import Sequence

from chimera.models.audit import AuditEvent, AuditEventType, event_id
from chimera.ports.judge import AuditLogger
from chimera.ports.stores import DeadLetterEntry, DeadLetterStore
from chimera.services.tenants import TenantScope


class DeadLetterService:
    """Operator actions on dead-lettered tasks."""

    def __init__(self, store: DeadLetterStore, audit: AuditLogger, tenants: Sequence[str]) -> None:
        self.store = store
        self.audit = audit
        self.scope = TenantScope(tenants)

    async def entries(self, tenant: str | None = None) -> list[DeadLetterEntry]:
        """Every dead letter, optionally of one tenant.

        Raises:
            UnknownTenant: the swarm has no such tenant.
        """
        out: list[DeadLetterEntry] = []
        for name in self.scope.select(tenant):
            out.extend(await self.store.list(name))
        return out

    async def replay(
        self, ids: Sequence[str] | None, actor: str, tenant: str | None = None
    ) -> list[DeadLetterEntry]:
        """Re-enqueue the dead letters named by entry or task id (all when ``ids`` is None).

        Entries whose task could not be decoded are skipped: there is nothing to run.

        Returns:
            The entries replayed.
        """
        replayed = []
        for entry in await self.entries(tenant):
            if (
                ids is not None
                and entry.entry_id not in ids
                and (entry.task is None or entry.task.id not in ids)
            ):
                continue
            if entry.task is None:
                continue
            fresh = entry.task.replayed()
            await self.audit.record(
                [
                    AuditEvent(
                        id=event_id(AuditEventType.REPLAYED, fresh.id, entry.entry_id),
                        type=AuditEventType.REPLAYED,
                        tenant=entry.tenant,
                        session=fresh.session,
                        task_id=fresh.id,
                        trace_id=fresh.trace_id,
                        actor=f"human:{actor}",
                        data={"reason": entry.reason, "attempts_before": entry.attempts},
                    )
                ]
            )
            if await self.store.replay(entry.tenant, entry, fresh):
                replayed.append(entry)
        return replayed
