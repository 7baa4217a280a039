"""Committed Results, as ``chimera results`` lists them."""

from __future__ import annotations

from chimera.models.result import Result
from chimera.ports.stores import ResultStore
from chimera.services.tenants import TenantScope


class CommittedResults:
    """Lists committed Results by tenant and session.

    Args:
        store: where committed Results are kept.
        scope: the swarm's tenants.
    """

    def __init__(self, store: ResultStore, scope: TenantScope) -> None:
        self.store = store
        self.scope = scope

    async def list(self, tenant: str | None = None, session: str | None = None) -> list[Result]:
        """Committed Results of ``tenant`` (all tenants when None), optionally one session.

        Raises:
            UnknownTenant: the swarm has no such tenant.
        """
        found: list[Result] = []
        for name in self.scope.select(tenant):
            committed = await self.store.committed(name)
            found.extend(r for r in committed if session is None or r.session == session)
        return found
