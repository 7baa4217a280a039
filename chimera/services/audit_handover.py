"""Handing the audit events a script kept pending to the sinks, then clearing them.

Every script that changes state (a commit, a cancellation, a dead letter, a run's advance)
keeps the events describing it in the tenant's pending-audit hash in the same atomic step.
The caller then writes them to the sinks and clears them. If that fails the change stands
and its events wait in Redis beside it: the audit sweep (``audit_sweep.py``) sends them
later, so a failure here is logged and nothing is redone.
"""

from __future__ import annotations

from collections.abc import Sequence

from chimera.lib.logging import get_logger
from chimera.models.audit import AuditEvent
from chimera.ports.audit import PendingAudit
from chimera.ports.judge import AuditLogger

log = get_logger("chimera.audit")


async def hand_over(
    events: Sequence[AuditEvent],
    audit: AuditLogger | None,
    pending: PendingAudit | None,
    deferred: str,
) -> None:
    """Write ``events`` to the sinks, then clear them from the pending hashes.

    Args:
        events: what a script kept pending.
        audit: the sinks (``None``: the events stay pending for the sweep).
        pending: the pending hashes to clear (``None``: nothing to clear).
        deferred: the log line's name when the sinks or Redis fail (e.g.
            ``judge.outcome_audit_deferred``).
    """
    if not events or audit is None:
        return
    try:
        await audit.record(events)
        if pending is not None:
            await pending.clear(events)
    except Exception as exc:
        log.warning(
            deferred, error=repr(exc), events=len(events), next="the audit sweep sends them"
        )
