"""Redis adapters for review items, dead letters and committed results."""

from __future__ import annotations

from typing import cast

import redis.asyncio as aioredis

from chimera.lib.fields import BODY, ReviewChoice
from chimera.lib.keys import Keyspace
from chimera.lib.lua.control_scripts import ReviewRetry
from chimera.lib.lua.judge_scripts import ReplayDeadLetter, ReviewDecide
from chimera.lib.records import committed_result, dead_letter, review_item
from chimera.lib.redis_lua import LuaBatch
from chimera.models.audit import AuditEvent
from chimera.models.result import Result
from chimera.models.task import Task
from chimera.ports.judge import OutcomeEvents
from chimera.ports.stores import DeadLetterEntry, ReviewItem


class RedisReviewStore:
    """Implements :class:`~chimera.ports.stores.ReviewStore` on the tenant's review hash."""

    def __init__(self, client: aioredis.Redis, keyspace: Keyspace | None = None) -> None:
        self.client = client
        self.keys = keyspace or Keyspace()
        self._lua = LuaBatch(client)

    async def list(self, tenant: str) -> list[ReviewItem]:
        """Every parked item of ``tenant``, oldest task first.

        An item that cannot be read is left out with a warning naming it and why (it stays
        stored, and a task lookup still shows it in review).
        """
        raw = cast("dict[str, str]", await self.client.hgetall(self.keys.tenant(tenant).review))
        return review_item.readable(tenant, raw)

    async def decide(
        self, tenant: str, item: ReviewItem, approve: bool, events: OutcomeEvents | None = None
    ) -> str:
        """Apply a human decision with the ``REVIEW_DECIDE`` script."""
        script = ReviewDecide.of(self.keys.tenant(tenant), item.task.session)
        done = (events.done.id, events.done.stored_json()) if events else None
        duplicate = (events.duplicate.id, events.duplicate.stored_json()) if events else None
        reply = await self._lua.run_one(
            script.call(
                task_id=item.task.id,
                choice=ReviewChoice.APPROVE if approve else ReviewChoice.REJECT,
                result_json=committed_result.encode(item.result),
                event=done,
                duplicate=duplicate,
            )
        )
        return reply.value

    async def retry(
        self, tenant: str, item: ReviewItem, next_task: Task, event: AuditEvent | None = None
    ) -> str:
        """Queue ``next_task`` in place of the parked item with the ``REVIEW_RETRY`` script."""
        script = ReviewRetry.of(self.keys.tenant(tenant), item.task.session)
        kept = (event.id, event.model_dump_json()) if event is not None else None
        return await self._lua.run_one(
            script.call(task_id=item.task.id, next_json=next_task.model_dump_json(), event=kept)
        )

    async def resume(
        self, tenant: str, item: ReviewItem, resumed: Task, event: AuditEvent | None = None
    ) -> str:
        """Queue ``resumed`` in place of the parked item (``REVIEW_RETRY``, no retry counted)."""
        script = ReviewRetry.of(self.keys.tenant(tenant), item.task.session)
        kept = (event.id, event.model_dump_json()) if event is not None else None
        return await self._lua.run_one(
            script.call(
                task_id=item.task.id,
                next_json=resumed.model_dump_json(),
                event=kept,
                count_retry=False,
            )
        )


class RedisDeadLetterStore:
    """Implements :class:`~chimera.ports.stores.DeadLetterStore` on the tenant's dlq stream."""

    def __init__(self, client: aioredis.Redis, keyspace: Keyspace | None = None) -> None:
        self.client = client
        self.keys = keyspace or Keyspace()
        self._lua = LuaBatch(client)

    async def list(self, tenant: str) -> list[DeadLetterEntry]:
        """Every dead letter of ``tenant``, oldest first; an unreadable one says why."""
        entries = cast(
            "list[tuple[str, dict[str, str]]]",
            await self.client.xrange(self.keys.tenant(tenant).dlq),
        )
        return [
            dead_letter.read(str(entry_id), tenant, fields.get(BODY, ""))
            for entry_id, fields in entries
        ]

    async def replay(self, tenant: str, entry: DeadLetterEntry, task: Task) -> bool:
        """Re-enqueue ``task`` and remove the dead letter, atomically."""
        script = ReplayDeadLetter.of(self.keys.tenant(tenant), task.session)
        return await self._lua.run_one(
            script.call(
                dead_letter_id=entry.entry_id, task_id=task.id, task_json=task.model_dump_json()
            )
        )


class RedisResultStore:
    """Implements :class:`~chimera.ports.stores.ResultStore` on the committed hash."""

    def __init__(self, client: aioredis.Redis, keyspace: Keyspace | None = None) -> None:
        self.client = client
        self.keys = keyspace or Keyspace()

    async def committed(self, tenant: str) -> list[Result]:
        """Every committed Result of ``tenant``, in task id order (unreadable ones warned of)."""
        raw = cast("dict[str, str]", await self.client.hgetall(self.keys.tenant(tenant).committed))
        return committed_result.readable(tenant, raw)
