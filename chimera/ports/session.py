"""The session store port: lifecycle state and counters shared by every process."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from chimera.models.session import SessionInfo, SessionState


class SessionStore(Protocol):
    """Where sessions live. All methods are ``async``.

    Counters are incremented by the queue and unit of work in the same atomic step as the
    change they count; this port reads them and moves the lifecycle state.
    """

    async def open(self, tenant: str, session: str) -> None:
        """Create the session if new (state ``open``); leave an existing one alone."""
        ...

    async def set_state(self, tenant: str, session: str, state: SessionState) -> None:
        """Store ``state`` (``running`` or ``halted``; ``completed`` is derived)."""
        ...

    async def get(self, tenant: str, session: str) -> SessionInfo | None:
        """Return the session, or ``None`` if it does not exist."""
        ...

    async def task_ids(self, tenant: str, session: str) -> list[str]:
        """The ids of every task submitted into ``session`` (sorted: submission order)."""
        ...

    async def list(self, tenant: str) -> list[SessionInfo]:
        """Return every session of ``tenant``."""
        ...

    async def halted(self, pairs: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """Return which of the ``(tenant, session)`` pairs are halted; one round trip."""
        ...
