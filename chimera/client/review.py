"""The review part of the Python client: what a reviewer does, from an application."""

from __future__ import annotations

import builtins
from collections.abc import Callable
from datetime import timedelta

from chimera.ports.stores import ReviewItem
from chimera.services.review import HumanDecision, ReviewFilter, ReviewService


class ReviewClient:
    """Results the Judge parked for a human: list, show, approve, reject (and retry).

    Reach it as ``client.review``. Every decision is audited with ``actor`` (the client's
    actor unless given).
    """

    def __init__(self, service: Callable[[], ReviewService], actor: str) -> None:
        self._service = service
        self._actor = actor

    async def list(
        self,
        *,
        tenant: str | None = None,
        skill: str | None = None,
        older_than: timedelta | None = None,
        newer_than: timedelta | None = None,
    ) -> list[tuple[str, ReviewItem]]:
        """Parked items as ``(tenant, item)``, optionally filtered by tenant, skill and age.

        Raises:
            UnknownTenant: the swarm has no such tenant.
        """
        where = ReviewFilter(tenant, skill, older_than, newer_than)
        return await self._service().pending(where=where)

    async def show(self, task_id: str) -> tuple[str, ReviewItem]:
        """The parked item of ``task_id`` with its tenant.

        Raises:
            ReviewNotFound: nothing waits for review under that id.
        """
        return await self._service().show(task_id)

    async def approve(
        self, task_id: str, *, note: str | None = None, actor: str | None = None
    ) -> HumanDecision:
        """Commit the parked Result of ``task_id`` (exactly once).

        Raises:
            ReviewNotFound: nothing waits for review under that id.
        """
        return await self._service().decide(task_id, True, actor or self._actor, note)

    async def reject(
        self, task_id: str, reason: str, *, retry: bool = False, actor: str | None = None
    ) -> HumanDecision:
        """Deny the parked Result of ``task_id``; with ``retry``, send the task back instead.

        A retried task runs again with ``reason`` as its ``feedback``.

        Raises:
            ReviewNotFound: nothing waits for review under that id.
            RetryRefused: ``retry`` asked for a task at its skill's attempt limit.
        """
        service, who = self._service(), actor or self._actor
        if retry:
            return await service.retry(task_id, reason, who)
        return await service.decide(task_id, False, who, reason)

    async def approve_all(
        self,
        *,
        tenant: str | None = None,
        skill: str | None = None,
        older_than: timedelta | None = None,
        newer_than: timedelta | None = None,
        note: str | None = None,
        actor: str | None = None,
    ) -> builtins.list[HumanDecision]:
        """Approve every parked item the filter selects, each audited on its own."""
        where = ReviewFilter(tenant, skill, older_than, newer_than)
        return await self._service().decide_all(where, True, actor or self._actor, note)

    async def reject_all(
        self,
        reason: str,
        *,
        retry: bool = False,
        tenant: str | None = None,
        skill: str | None = None,
        older_than: timedelta | None = None,
        newer_than: timedelta | None = None,
        actor: str | None = None,
    ) -> builtins.list[HumanDecision]:
        """Reject (or, with ``retry``, send back) every parked item the filter selects."""
        where = ReviewFilter(tenant, skill, older_than, newer_than)
        return await self._service().decide_all(
            where, False, actor or self._actor, reason, retry=retry
        )
