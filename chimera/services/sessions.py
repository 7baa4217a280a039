"""Operator control of sessions: list them, halt one (its tasks wait) or resume it."""

from __future__ import annotations

from chimera.models.session import SessionInfo, SessionState
from chimera.ports.session import SessionStore
from chimera.services.errors import RequestError
from chimera.services.tenants import TenantScope


class NoSuchSession(RequestError):
    """The tenant has no session by that id."""


class SessionControl:
    """Lists sessions and moves them between ``running`` and ``halted``.

    The rule: a session can be halted or resumed only if it exists, under a tenant the
    swarm declares. Halting stores ``halted`` (workers leave its tasks waiting; nothing is
    lost); resuming stores ``running`` (it reads ``completed`` again once every task has
    settled).

    Args:
        store: where sessions live.
        scope: the swarm's tenants.
    """

    def __init__(self, store: SessionStore, scope: TenantScope) -> None:
        self.store = store
        self.scope = scope

    async def list(self, tenant: str | None = None) -> list[SessionInfo]:
        """Every session of ``tenant`` (of every tenant when None), tenant by tenant.

        Raises:
            UnknownTenant: the swarm has no such tenant.
        """
        found: list[SessionInfo] = []
        for name in self.scope.select(tenant):
            found.extend(await self.store.list(name))
        return found

    async def halt(self, tenant: str, session: str) -> SessionState:
        """Halt ``session``: its tasks are not started until it is resumed.

        Raises:
            UnknownTenant: the swarm has no such tenant.
            NoSuchSession: the tenant has no such session.
        """
        return await self._move(tenant, session, SessionState.HALTED)

    async def resume(self, tenant: str, session: str) -> SessionState:
        """Resume ``session``: its waiting tasks run again.

        Raises:
            UnknownTenant: the swarm has no such tenant.
            NoSuchSession: the tenant has no such session.
        """
        return await self._move(tenant, session, SessionState.RUNNING)

    async def _move(self, tenant: str, session: str, state: SessionState) -> SessionState:
        self.scope.check([tenant])
        if await self.store.get(tenant, session) is None:
            raise NoSuchSession(f"tenant {tenant!r} has no session {session!r}")
        await self.store.set_state(tenant, session, state)
        return state
