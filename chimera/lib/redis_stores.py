"""Redis adapters for review items, dead letters and committed results."""

from __future__ import annotations

import json
from typing import cast

import redis.asyncio as aioredis
from pydantic import ValidationError

from chimera.lib import redis_scripts as lua
from chimera.lib.keys import Keyspace
from chimera.models.decision import Decision
from chimera.models.result import Result
from chimera.models.task import Task
from chimera.ports.stores import DeadLetterEntry, ReviewItem


class RedisReviewStore:
    """Implements :class:`~chimera.ports.stores.ReviewStore` on the tenant's review hash."""

    def __init__(self, client: aioredis.Redis, keyspace: Keyspace | None = None) -> None:
        self.client = client
        self.keys = keyspace or Keyspace()
        self._decide = client.register_script(lua.REVIEW_DECIDE)

    async def list(self, tenant: str) -> list[ReviewItem]:
        """Every parked item of ``tenant``, oldest task first."""
        raw = await self.client.hgetall(self.keys.tenant(tenant).review)
        items = []
        for body in raw.values():
            data = json.loads(body)
            items.append(
                ReviewItem(
                    task=Task.model_validate(data["task"]),
                    result=Result.model_validate(data["result"]),
                    decision=Decision.model_validate(data["decision"]),
                )
            )
        return sorted(items, key=lambda item: item.task.id)

    async def decide(self, tenant: str, item: ReviewItem, approve: bool) -> str:
        """Apply a human decision with the ``REVIEW_DECIDE`` script."""
        keys = self.keys.tenant(tenant)
        reply = await self._decide(
            keys=[
                keys.review,
                keys.ledger,
                keys.committed,
                keys.settled,
                keys.session(item.task.session),
            ],
            args=[item.task.id, "approve" if approve else "reject", item.result.model_dump_json()],
        )
        return str(reply)


class RedisDeadLetterStore:
    """Implements :class:`~chimera.ports.stores.DeadLetterStore` on the tenant's dlq stream."""

    def __init__(self, client: aioredis.Redis, keyspace: Keyspace | None = None) -> None:
        self.client = client
        self.keys = keyspace or Keyspace()
        self._replay = client.register_script(lua.REPLAY_DEAD_LETTER)

    async def list(self, tenant: str) -> list[DeadLetterEntry]:
        """Every dead letter of ``tenant``."""
        entries = cast(
            "list[tuple[str, dict[str, str]]]",
            await self.client.xrange(self.keys.tenant(tenant).dlq),
        )
        out = []
        for entry_id, fields in entries:
            data = json.loads(fields.get("body", "{}"))
            task = None
            if data.get("task") is not None:
                try:
                    task = Task.model_validate(data["task"])
                except ValidationError:
                    task = None
            out.append(
                DeadLetterEntry(
                    entry_id=str(entry_id),
                    tenant=tenant,
                    task=task,
                    reason=str(data.get("reason", "")),
                    attempts=int(data.get("attempts", 0)),
                    last_error=data.get("last_error"),
                    raw=data,
                )
            )
        return out

    async def replay(self, tenant: str, entry: DeadLetterEntry, task: Task) -> bool:
        """Re-enqueue ``task`` and remove the dead letter, atomically."""
        keys = self.keys.tenant(tenant)
        reply = await self._replay(
            keys=[keys.dlq, keys.tasks, keys.ledger, keys.settled, keys.session(task.session)],
            args=[entry.entry_id, task.model_dump_json(), task.id],
        )
        return bool(int(reply))


class RedisResultStore:
    """Implements :class:`~chimera.ports.stores.ResultStore` on the committed hash."""

    def __init__(self, client: aioredis.Redis, keyspace: Keyspace | None = None) -> None:
        self.client = client
        self.keys = keyspace or Keyspace()

    async def committed(self, tenant: str) -> list[Result]:
        """Every committed Result of ``tenant``, in task id order."""
        raw = await self.client.hgetall(self.keys.tenant(tenant).committed)
        return [Result.model_validate_json(raw[k]) for k in sorted(raw)]
