"""The tenant rule every operator command shares: a tenant must be one the swarm declares."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from chimera.services.errors import RequestError


class UnknownTenant(RequestError):
    """A tenant the swarm does not declare; the message lists the ones it does."""


class TenantScope:
    """The tenants of one swarm, and which of them a request is about.

    Args:
        tenants: the swarm's tenants, in file order.
    """

    def __init__(self, tenants: Sequence[str]) -> None:
        self.tenants = list(tenants)

    def check(self, names: Iterable[str]) -> list[str]:
        """Return ``names`` as a list when the swarm declares every one of them.

        Raises:
            UnknownTenant: naming every unknown tenant and listing the known ones.
        """
        chosen = list(names)
        unknown = [name for name in chosen if name not in self.tenants]
        if unknown:
            label = "tenant" if len(unknown) == 1 else "tenants"
            raise UnknownTenant(
                f"unknown {label} {', '.join(repr(name) for name in unknown)} "
                f"(known: {', '.join(self.tenants)})"
            )
        return chosen

    def select(self, tenant: str | None) -> list[str]:
        """The tenants a request covers: ``[tenant]`` when one is named, else all of them.

        Raises:
            UnknownTenant: ``tenant`` is not one of the swarm's.
        """
        return self.tenants if tenant is None else self.check([tenant])
