"""Redis adapter for looking a task up by id: one MULTI over the tenant's hashes."""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as aioredis

from chimera.lib.keys import Keyspace
from chimera.lib.records import committed_result, review_item, settled
from chimera.models.task import Task
from chimera.models.types import is_safe_id
from chimera.ports.stores import TaskState, TaskStatus


class RedisTaskStatusStore:
    """Implements :class:`~chimera.ports.stores.TaskStatusStore`.

    Reads the committed, review, settled and ledger hashes of the tenant in one
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
            committed, review, settled_row, ledger = await pipe.execute()
        return task_status(tenant, task_id, committed, review, settled_row, ledger)

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
            committed, review, settled_rows = await pipe.execute()
        found: dict[str, TaskStatus] = {}
        for task_id, result, parked, row in zip(ids, committed, review, settled_rows, strict=True):
            status = task_status(tenant, task_id, result, parked, row, None)
            if status.state is not TaskState.UNKNOWN:
                found[task_id] = status
        return found


def task_status(
    tenant: str,
    task_id: str,
    committed: str | None,
    review: str | None,
    settled_row: str | None,
    ledger: str | None,
) -> TaskStatus:
    """Where a task stands, from its rows in the tenant's four hashes (``None``: no row)."""
    if committed is not None:
        result = committed_result.decode(committed)
        return TaskStatus(task_id, tenant, TaskState.COMMITTED, result=result)
    if review is not None:
        # Items parked for other reasons (a sensitive tool call) may carry other fields;
        # the state is what matters, the parts are shown where they parse.
        parts = review_item.decode_parts(review)
        return TaskStatus(
            task_id,
            tenant,
            TaskState.REVIEW,
            task=parts.task,
            result=parts.result,
            decision=parts.decision,
        )
    if settled_row is not None:
        # The settled words (committed, denied, dead_lettered) are task states too.
        return TaskStatus(task_id, tenant, TaskState(settled.decode(settled_row).value))
    if ledger is not None:
        task = Task.model_validate_json(ledger)
        return TaskStatus(task_id, tenant, TaskState.PENDING, task=task)
    return TaskStatus(task_id, tenant, TaskState.UNKNOWN)
