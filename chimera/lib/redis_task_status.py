"""Redis adapter for looking a task up by id: one MULTI over the tenant's hashes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from pydantic import ValidationError

from chimera.lib.keys import Keyspace
from chimera.models.decision import Decision
from chimera.models.result import Result
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
        """The state of ``task_id`` among ``tenant``'s tasks; ``UNKNOWN`` when none."""
        if not is_safe_id(task_id):
            return TaskStatus(task_id, tenant, TaskState.UNKNOWN)
        keys = self.keys.tenant(tenant)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hget(keys.committed, task_id)
            pipe.hget(keys.review, task_id)
            pipe.hget(keys.settled, task_id)
            pipe.hget(keys.ledger, task_id)
            committed, review, settled, ledger = await pipe.execute()
        if committed is not None:
            result = Result.model_validate_json(committed)
            return TaskStatus(task_id, tenant, TaskState.COMMITTED, result=result)
        if review is not None:
            return _in_review(task_id, tenant, json.loads(review))
        if settled is not None:
            # The settled hash holds "committed", "denied" or "dead_lettered": the same words.
            return TaskStatus(task_id, tenant, TaskState(settled))
        if ledger is not None:
            task = Task.model_validate_json(ledger)
            return TaskStatus(task_id, tenant, TaskState.PENDING, task=task)
        return TaskStatus(task_id, tenant, TaskState.UNKNOWN)

    async def settled(self, tenant: str, task_ids: Sequence[str]) -> dict[str, TaskStatus]:
        """Of ``task_ids``, those with an outcome (review included); one round trip."""
        ids = [task_id for task_id in task_ids if is_safe_id(task_id)]
        if not ids:
            return {}
        keys = self.keys.tenant(tenant)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hmget(keys.committed, ids)
            pipe.hmget(keys.settled, ids)
            pipe.hmget(keys.review, ids)
            committed, settled, review = await pipe.execute()
        found: dict[str, TaskStatus] = {}
        for task_id, result, state, parked in zip(ids, committed, settled, review, strict=True):
            if result is not None:
                found[task_id] = TaskStatus(
                    task_id, tenant, TaskState.COMMITTED, result=Result.model_validate_json(result)
                )
            elif state is not None:
                found[task_id] = TaskStatus(task_id, tenant, TaskState(state))
            elif parked is not None:
                found[task_id] = _in_review(task_id, tenant, json.loads(parked))
        return found


def _in_review(task_id: str, tenant: str, data: dict[str, Any]) -> TaskStatus:
    # Items parked for other reasons (a sensitive tool call) may carry other fields; the
    # state is what matters, the parts are shown where they parse.
    return TaskStatus(
        task_id,
        tenant,
        TaskState.REVIEW,
        task=_parse(Task, data.get("task")),
        result=_parse(Result, data.get("result")),
        decision=_parse(Decision, data.get("decision")),
    )


def _parse(model: Any, value: Any) -> Any:
    if value is None:
        return None
    try:
        return model.model_validate(value)
    except ValidationError:
        return None
