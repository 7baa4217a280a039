"""Audit ports: reading back what the sinks stored (with its proof), and events pending."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from chimera.models.audit import AuditEvent, ChainCheck


class AuditTrail(Protocol):
    """A store of hash-chained audit records that can be read back (async)."""

    async def read(self, tenant: str, verify: bool) -> ChainCheck:
        """Every record of ``tenant``'s trail, oldest first.

        Args:
            tenant: whose trail.
            verify: also check every link of the hash chain; the result then names the
                first broken record, if any.
        """
        ...

    async def task_events(self, tenant: str, task_id: str) -> list[AuditEvent]:
        """The events of ``tenant``'s trail about ``task_id``, oldest first (unverified)."""
        ...


class PendingAudit(Protocol):
    """Audit events kept with the change they report, waiting for the sinks (async).

    Scripts that settle, retry or dead-letter a task keep the event of what they did in the
    tenant's pending events in the same atomic step. Whoever ran the script writes the event
    to the sinks and then clears it; a sweep writes what a crash left behind.
    """

    async def stale(self, tenant: str, older_than: datetime) -> list[AuditEvent]:
        """``tenant``'s pending events that happened before ``older_than``."""
        ...

    async def clear(self, events: Sequence[AuditEvent]) -> None:
        """Forget ``events`` (the sinks have them); one round trip for the batch."""
        ...
