"""The presence port: heartbeats of live Worker/Judge processes, per tenant."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from chimera.models.presence import Heartbeat


class PresenceStore(Protocol):
    """Where processes record that they are alive. Methods are ``async``.

    Records are kept per tenant (under the tenant's own keys), so a Redis user limited to
    one tenant's keys can both beat and read, and every command touches one key.
    """

    async def beat(self, records: Sequence[tuple[str, Heartbeat]]) -> None:
        """Store each ``(tenant, heartbeat)``, replacing the process's previous one."""
        ...

    async def live(self, tenant: str, now: datetime) -> list[Heartbeat]:
        """The heartbeats of ``tenant`` still live at ``now``.

        Raises:
            Exception: the store refused (no permission) or failed; never an empty list
                in place of an answer.
        """
        ...

    async def forget(self, consumer: str, tenants: Sequence[str]) -> None:
        """Remove ``consumer``'s records (it stops cleanly)."""
        ...

    async def prune(self, tenant: str, before: datetime) -> int:
        """Remove records that expired before ``before`` (processes that died); how many."""
        ...
