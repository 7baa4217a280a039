"""The audit trail port: reading back what the audit sinks stored, with its proof."""

from __future__ import annotations

from typing import Protocol

from chimera.models.audit import ChainCheck


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
