"""The usage port: LLM tokens spent, as the token budgets of tenants need them."""

from __future__ import annotations

from typing import Protocol


class UsageStore(Protocol):
    """Tokens of published Results per tenant and UTC day (async).

    The queue counts them as it publishes Results; per-session totals are the session's
    ``tokens`` counter (:class:`~chimera.ports.session.SessionStore`).
    """

    async def tokens(self, tenant: str, day: str) -> int:
        """Tokens ``tenant`` used on ``day`` (``YYYY-MM-DD``, UTC); 0 when none."""
        ...
