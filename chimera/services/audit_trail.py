"""Reading a tenant's audit trail back, for ``chimera audit``."""

from __future__ import annotations

from chimera.models.audit import ChainCheck
from chimera.ports.audit import AuditTrail
from chimera.services.tenants import TenantScope


class AuditReader:
    """Reads one tenant's trail through the :class:`~chimera.ports.audit.AuditTrail` port.

    Args:
        trail: where the records are stored.
        scope: the swarm's tenants; only those may be read.
    """

    def __init__(self, trail: AuditTrail, scope: TenantScope) -> None:
        self.trail = trail
        self.scope = scope

    async def read(self, tenant: str, verify: bool) -> ChainCheck:
        """Every record of ``tenant``'s trail; with ``verify``, the first broken link too.

        Raises:
            UnknownTenant: the swarm has no such tenant.
        """
        self.scope.check([tenant])
        return await self.trail.read(tenant, verify)
