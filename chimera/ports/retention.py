"""Retention port: trimming what a tenant's store keeps, kind by kind, under a lease (async)."""

from __future__ import annotations

from typing import Protocol

from chimera.models.retention import Keep


class RetentionStore(Protocol):
    """Trims each stored kind of a tenant to a :class:`~chimera.models.retention.Keep`.

    Every trim keeps what is still needed whatever the policy says (what a live task, a
    pending review, an unacknowledged entry or the audit chain's proof relies on), counts
    instead of removing when ``dry_run``, and returns how many it removed (or would).
    ``now`` is epoch seconds.
    """

    async def acquire(self, tenant: str, owner: str, ttl_s: float) -> bool:
        """Take the lease on sweeping ``tenant`` unless another process holds it."""
        ...

    async def renew(self, tenant: str, owner: str, ttl_s: float) -> bool:
        """Extend our lease; False when it lapsed and is no longer ours."""
        ...

    async def release(self, tenant: str, owner: str) -> None:
        """Give our lease up."""
        ...

    async def due(self, tenant: str, every_s: float) -> bool:
        """Claim the periodic sweep of ``tenant``: True at most once per ``every_s``."""
        ...

    async def trim_committed(self, tenant: str, keep: Keep, now: float, dry_run: bool) -> int:
        """Committed Results, aged from their task's submission."""
        ...

    async def trim_settled(self, tenant: str, keep: Keep, now: float, dry_run: bool) -> int:
        """Settled marks and cancellation records, aged from their task's submission."""
        ...

    async def trim_sessions(self, tenant: str, keep: Keep, now: float, dry_run: bool) -> int:
        """Finished sessions, aged from their creation."""
        ...

    async def trim_dead_letters(self, tenant: str, keep: Keep, now: float, dry_run: bool) -> int:
        """Dead letters, aged from when they were written."""
        ...

    async def trim_audit(
        self, tenant: str, keep: Keep, now: float, dry_run: bool, actor: str
    ) -> int:
        """Audit records, behind a checkpoint record naming ``actor``."""
        ...

    async def trim_acked(self, tenant: str, dry_run: bool) -> int:
        """Task and result stream entries every consumer group has acknowledged."""
        ...
