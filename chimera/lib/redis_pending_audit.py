"""The pending audit events of each tenant, in Redis: ``<prefix>:{tenant}:audit:pending``."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import cast

import redis.asyncio as aioredis
from pydantic import ValidationError

from chimera.lib.keys import Keyspace
from chimera.lib.logging import get_logger
from chimera.models.audit import AuditEvent

log = get_logger("chimera.audit")


class RedisPendingAudit:
    """Implements :class:`~chimera.ports.audit.PendingAudit` on the pending-audit hashes."""

    def __init__(self, client: aioredis.Redis, keyspace: Keyspace | None = None) -> None:
        self.client = client
        self.keys = keyspace or Keyspace()

    async def stale(self, tenant: str, older_than: datetime) -> list[AuditEvent]:
        """``tenant``'s pending events that happened before ``older_than``, oldest first.

        An entry that is not an event (a bug, or a hand edit) is logged and removed, so it
        cannot come back on every sweep.
        """
        key = self.keys.tenant(tenant).audit_pending
        raw = cast("dict[str, str]", await self.client.hgetall(key))
        events: list[AuditEvent] = []
        broken: list[str] = []
        for event_id, body in raw.items():
            try:
                event = AuditEvent.model_validate_json(body)
            except ValidationError as exc:
                log.error(
                    "audit.pending_unreadable", tenant=tenant, event_id=event_id, error=str(exc)
                )
                broken.append(event_id)
                continue
            if event.at < older_than:
                events.append(event)
        if broken:
            await self.client.hdel(key, *broken)
        return sorted(events, key=lambda e: e.at)

    async def clear(self, events: Sequence[AuditEvent]) -> None:
        """Remove ``events`` from their tenants' pending hashes; one round trip."""
        by_tenant: dict[str, list[str]] = defaultdict(list)
        for event in events:
            by_tenant[event.tenant].append(event.id)
        if not by_tenant:
            return
        async with self.client.pipeline(transaction=False) as pipe:
            for tenant, ids in by_tenant.items():
                pipe.hdel(self.keys.tenant(tenant).audit_pending, *ids)
            await pipe.execute()
