"""Redis adapter for cancelling tasks: one ``CANCEL_TASK`` call per task, one round trip."""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as aioredis

from chimera.lib.keys import Keyspace
from chimera.lib.lua.control_scripts import CancelTask
from chimera.lib.records import cancellation
from chimera.lib.redis_lua import LuaBatch
from chimera.ports.stores import CancelReply, CancelRequest, TaskState


class RedisTaskCanceller:
    """Implements :class:`~chimera.ports.stores.TaskCanceller` with ``CANCEL_TASK``."""

    def __init__(self, client: aioredis.Redis, keyspace: Keyspace | None = None) -> None:
        self.client = client
        self.keys = keyspace or Keyspace()
        self._lua = LuaBatch(client)

    async def cancel(self, tenant: str, requests: Sequence[CancelRequest]) -> list[CancelReply]:
        """Cancel every task of ``requests`` (each atomically); one round trip."""
        keys = self.keys.tenant(tenant)
        calls = [
            CancelTask.of(keys, request.session).call(
                task_id=request.task_id,
                note_json=cancellation.encode(request.cancellation),
                event=_pending(request),
            )
            for request in requests
        ]
        replies = await self._lua.run(calls)
        return [cancel_reply(r.task_id, reply) for r, reply in zip(requests, replies, strict=True)]


def _pending(request: CancelRequest) -> tuple[str, str] | None:
    event = request.event
    return (event.id, event.model_dump_json()) if event is not None else None


def cancel_reply(task_id: str, reply: str) -> CancelReply:
    """Read a ``CANCEL_TASK`` reply: ``cancelled``, ``unknown`` or ``already:<state>``."""
    if reply == "cancelled":
        return CancelReply(task_id, True, TaskState.CANCELLED)
    if reply.startswith("already:"):
        return CancelReply(task_id, False, TaskState(reply.removeprefix("already:")))
    return CancelReply(task_id, False, TaskState.UNKNOWN)
