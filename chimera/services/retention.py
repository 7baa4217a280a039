"""The retention sweep: apply swarm.yaml's ``retention:`` block to each tenant's stored kinds.

One process sweeps a tenant at a time, under a lease (a lapsed lease only costs a repeated
sweep: every trim rechecks what it removes in one atomic step). Workers sweep every
``retention.sweep_every``, whichever of them claims the period first; ``chimera gc`` sweeps
at once. See ``docs/retention.md``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from chimera.lib.logging import get_logger
from chimera.models.retention import RetentionConfig
from chimera.ports.retention import RetentionStore

log = get_logger("chimera.retention")

#: How long a sweep's lease lasts; renewed before each kind.
LEASE_S = 120.0

#: The kinds, in the order a sweep trims them (and ``chimera gc`` prints them).
KINDS = ("committed", "settled", "sessions", "dead_letters", "audit", "acked_entries")


@dataclass
class SweepReport:
    """What one sweep of one tenant removed (or, dry, would remove), by kind.

    ``swept`` is False when another process held the tenant's lease: nothing was done.
    """

    tenant: str
    swept: bool = True
    removed: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Everything removed, all kinds together."""
        return sum(self.removed.values())


class RetentionSweep:
    """Applies a :class:`~chimera.models.retention.RetentionConfig` to tenants' stores.

    Args:
        store: where the kinds are kept.
        config: the ``retention:`` block.
        tenants: whose keys to sweep.
        owner: who sweeps (a consumer name, or ``gc:<user>``); the lease and the audit
            checkpoint records name it.
        clock: epoch seconds (tests pass a fake).
    """

    def __init__(
        self,
        store: RetentionStore,
        config: RetentionConfig,
        tenants: Sequence[str],
        owner: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.config = config
        self.tenants = list(tenants)
        self.owner = owner
        self.clock = clock

    @property
    def enabled(self) -> bool:
        """True when the policy trims anything at all."""
        config = self.config
        return config.acked_entries or any(not k.keeps_all for k in config.kinds.values())

    async def sweep_due(self) -> list[SweepReport]:
        """Sweep each tenant whose period is up and whose lease is free (a Worker's tick)."""
        reports = []
        for tenant in self.tenants:
            if await self.store.due(tenant, self.config.sweep_every):
                reports.append(await self.sweep_tenant(tenant))
        return reports

    async def sweep(
        self, dry_run: bool = False, tenants: Sequence[str] | None = None
    ) -> list[SweepReport]:
        """Sweep every tenant (or those named) once, now (``chimera gc``)."""
        return [await self.sweep_tenant(t, dry_run) for t in tenants or self.tenants]

    async def sweep_tenant(self, tenant: str, dry_run: bool = False) -> SweepReport:
        """Trim every kind of ``tenant`` to the policy, holding its lease throughout.

        A dry run takes no lease: it changes nothing.
        """
        if not dry_run and not await self.store.acquire(tenant, self.owner, LEASE_S):
            log.info("retention.busy", tenant=tenant, owner=self.owner)
            return SweepReport(tenant, swept=False)
        report = SweepReport(tenant)
        try:
            for kind in KINDS:
                if not dry_run and not await self.store.renew(tenant, self.owner, LEASE_S):
                    log.warning("retention.lease_lost", tenant=tenant, kind=kind)
                    break
                report.removed[kind] = await self._trim(tenant, kind, dry_run)
        finally:
            if not dry_run:
                await self.store.release(tenant, self.owner)
        if report.total:
            log.info("retention.swept", tenant=tenant, dry_run=dry_run, **report.removed)
        return report

    async def _trim(self, tenant: str, kind: str, dry_run: bool) -> int:
        config, store, now = self.config, self.store, self.clock()
        if kind == "acked_entries":
            return await store.trim_acked(tenant, dry_run) if config.acked_entries else 0
        keep = config.kinds[kind]
        if keep.keeps_all:
            return 0
        if kind == "committed":
            return await store.trim_committed(tenant, keep, now, dry_run)
        if kind == "settled":
            return await store.trim_settled(tenant, keep, now, dry_run)
        if kind == "sessions":
            return await store.trim_sessions(tenant, keep, now, dry_run)
        if kind == "dead_letters":
            return await store.trim_dead_letters(tenant, keep, now, dry_run)
        return await store.trim_audit(tenant, keep, now, dry_run, self.owner)
