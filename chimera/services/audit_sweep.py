"""The audit sweep: hand the sinks the events a crash left waiting in Redis.

A script that settles, retries or dead-letters a task keeps the audit event of what it did
beside the change (the pending audit events); whoever ran it writes the event to the
sinks and clears it. When that process died in between, the event waits: the sweep, run
by every Judge now and then, writes events older than a grace period (so it does not race
the process still about to write them; a race would only repeat an event, which the
``redis`` sink stores once) and clears them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from chimera.models.types import utc_now
from chimera.ports.audit import PendingAudit
from chimera.ports.judge import AuditLogger


class AuditSweep:
    """Writes pending audit events older than ``after_s`` to the sinks, then clears them.

    Args:
        pending: the pending audit events.
        audit: the sinks.
        tenants: whose events to sweep.
        after_s: how old a pending event must be to be swept.
        now: the current time (tests pass a fake).
    """

    def __init__(
        self,
        pending: PendingAudit,
        audit: AuditLogger,
        tenants: Sequence[str],
        after_s: float = 30.0,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self.pending = pending
        self.audit = audit
        self.tenants = list(tenants)
        self.after = timedelta(seconds=after_s)
        self.now = now

    async def sweep(self) -> int:
        """Send every stale pending event; return how many.

        Raises:
            AuditFailed: a sink failed; the events stay pending for the next sweep.
        """
        cutoff = self.now() - self.after
        sent = 0
        for tenant in self.tenants:
            stale = await self.pending.stale(tenant, cutoff)
            if not stale:
                continue
            await self.audit.record(stale)
            await self.pending.clear(stale)
            sent += len(stale)
        return sent
