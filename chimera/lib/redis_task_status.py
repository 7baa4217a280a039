"""Redis adapter for looking tasks up by id: one MULTI over the tenant's hashes."""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as aioredis

from chimera.lib.keys import Keyspace
from chimera.lib.records.task_status import task_status
from chimera.models.types import is_safe_id
from chimera.ports.stores import TaskState, TaskStatus


class RedisTaskStatusStore:
    """Implements :class:`~chimera.ports.stores.TaskStatusStore`.

    Reads the committed, review, settled, ledger and cancelled hashes of the tenant in one
    transaction (they share the tenant's hash slot), so the answer is one consistent
    snapshot: a task is never seen both pending and committed.
    """

    def __init__(self, client: aioredis.Redis, keyspace: Keyspace | None = None) -> None:
        self.client = client
        self.keys = keyspace or Keyspace()

    async def status(self, tenant: str, task_id: str) -> TaskStatus:
        """The state of ``task_id`` among ``tenant``'s tasks; ``UNKNOWN`` when none.

        Raises:
            RecordError: the committed Result or the settled row cannot be read.
        """
        if not is_safe_id(task_id):
            return TaskStatus(task_id, tenant, TaskState.UNKNOWN)
        keys = self.keys.tenant(tenant)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hget(keys.committed, task_id)
            pipe.hget(keys.review, task_id)
            pipe.hget(keys.settled, task_id)
            pipe.hget(keys.ledger, task_id)
            pipe.hget(keys.cancelled, task_id)
            committed, review, settled_row, ledger, cancelled = await pipe.execute()
        return task_status(tenant, task_id, committed, review, settled_row, ledger, cancelled)

    async def settled(self, tenant: str, task_ids: Sequence[str]) -> dict[str, TaskStatus]:
        """Of ``task_ids``, those with an outcome (review included); one round trip."""
        ids = [task_id for task_id in task_ids if is_safe_id(task_id)]
        if not ids:
            return {}
        keys = self.keys.tenant(tenant)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hmget(keys.committed, ids)
            pipe.hmget(keys.review, ids)
            pipe.hmget(keys.settled, ids)
            pipe.hmget(keys.cancelled, ids)
            committed, review, settled_rows, cancelled = await pipe.execute()
        found: dict[str, TaskStatus] = {}
        rows = zip(ids, committed, review, settled_rows, cancelled, strict=True)
        for task_id, result, parked, row, note in rows:
            status = task_status(tenant, task_id, result, parked, row, None, note)
            if status.state is not TaskState.UNKNOWN:
                found[task_id] = status
        return found
