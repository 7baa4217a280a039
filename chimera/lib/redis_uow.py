"""The Judge's unit of work on Redis: every decision applied by one atomic Lua call."""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Sequence
from typing import cast

import redis.asyncio as aioredis
from pydantic import ValidationError

from chimera.lib.decoded import DecodedCache
from chimera.lib.fields import UNKNOWN_SESSION
from chimera.lib.judged import apply_item
from chimera.lib.keys import JUDGE_GROUP, Keyspace
from chimera.lib.lua.judge_scripts import ApplyItem, DeadLetterResult, JudgeApply
from chimera.lib.records import dead_letter as dead_letter_record
from chimera.lib.records.dead_letter import as_task_entry
from chimera.lib.redis_lua import LuaBatch
from chimera.models.result import Result
from chimera.models.task import Task
from chimera.ports.judge import CommitOutcome, Judged, Unjudgeable
from chimera.ports.queue import Delivery

#: Results applied by one script call at most: Redis runs nothing else meanwhile, and 200
#: commits take it about a millisecond.
APPLY_CHUNK = 200


class RedisUnitOfWork:
    """Implements :class:`~chimera.ports.judge.UnitOfWork` with the ``JUDGE_APPLY`` script.

    Each item is checked and applied atomically: a Result is committed only if its task is
    still live in the tenant's ledger with the same attempt and has no outcome yet, so a
    Result delivered twice is committed once and the second is reported ``DUPLICATE``.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        keyspace: Keyspace | None = None,
        decoded: DecodedCache | None = None,
    ) -> None:
        self.client = client
        self.keys = keyspace or Keyspace()
        #: The tasks this process's Worker read: a ledger row is the same text.
        self.decoded = decoded if decoded is not None else DecodedCache()
        self._lua = LuaBatch(client)
        # The ledger rows as stored, by (tenant, task id): the compare-and-set in JUDGE_APPLY
        # must compare against these bytes, not a re-serialisation that another version of
        # chimera (or of pydantic) might spell differently.
        self._rows: dict[tuple[str, str], str] = {}

    async def lookup(self, deliveries: Sequence[Delivery[Result]]) -> list[Task | None]:
        """Fetch each Result's task from the ledger of the tenant it was read from.

        One ``HMGET`` per tenant, all in one round trip: a batch of a few tenants costs a
        few commands, not one per Result.
        """
        wanted: dict[str, list[int]] = defaultdict(list)
        for index, delivery in enumerate(deliveries):
            if delivery.message is not None:
                wanted[delivery.tenant].append(index)
        out: list[Task | None] = [None] * len(deliveries)
        if not wanted:
            return out
        async with self.client.pipeline(transaction=False) as pipe:
            for tenant, indexes in wanted.items():
                ids = [_task_id(deliveries[i]) for i in indexes]
                pipe.hmget(self.keys.tenant(tenant).ledger, ids)
            rows = await pipe.execute()
        for (tenant, indexes), bodies in zip(wanted.items(), rows, strict=True):
            for index, body in zip(indexes, bodies, strict=True):
                if not body:
                    continue
                # The ledger row is this hop's one read of the task: validated here, once
                # (or already, by this process's Worker, from the same text).
                with contextlib.suppress(ValidationError):
                    task = self.decoded.take(body, Task) or Task.model_validate_json(body)
                    out[index] = task
                    self._rows[(tenant, task.id)] = body
        return out

    def _stored_row(self, tenant: str, task: Task) -> str:
        """The ledger row :meth:`lookup` read for ``task`` (its own JSON if never looked up)."""
        return self._rows.pop((tenant, task.id), None) or task.model_dump_json()

    async def apply(self, items: Sequence[Judged]) -> list[CommitOutcome]:
        """Apply every decision; one round trip for the batch.

        One script call per tenant and session (of at most :data:`APPLY_CHUNK` Results),
        not one per Result: each call's cost in redis-py outweighed the commit itself.
        """
        if not items:
            return []
        groups: dict[tuple[str, str], list[int]] = defaultdict(list)
        applied: list[ApplyItem] = []
        for index, item in enumerate(items):
            task = item.task
            tenant = item.delivery.tenant
            applied.append(apply_item(item, self._stored_row(tenant, task) if task else ""))
            groups[(tenant, task.session if task else UNKNOWN_SESSION)].append(index)
        calls = []
        order: list[list[int]] = []
        for (tenant, session), indexes in groups.items():
            script = JudgeApply.of(self.keys.tenant(tenant), session)
            for start in range(0, len(indexes), APPLY_CHUNK):
                chunk = indexes[start : start + APPLY_CHUNK]
                calls.append(script.call(group=JUDGE_GROUP, items=[applied[i] for i in chunk]))
                order.append(chunk)
        outcomes: list[CommitOutcome | None] = [None] * len(items)
        for chunk, replies in zip(order, await self._lua.run(calls), strict=True):
            for index, outcome in zip(chunk, replies, strict=True):
                outcomes[index] = outcome
        # zip(strict=True) above: every Result got exactly one outcome.
        return cast("list[CommitOutcome]", outcomes)

    async def dead_letter(self, items: Sequence[Unjudgeable]) -> list[bool]:
        """Dead-letter the tasks of Results no Judge could judge; one round trip."""
        calls = [
            DeadLetterResult.of(self.keys.tenant(item.delivery.tenant), item.task.session).call(
                group=JUDGE_GROUP,
                entry_id=item.delivery.entry_id,
                task_id=item.task.id,
                expected_row=self._stored_row(item.delivery.tenant, item.task),
                letter_json=dead_letter_record.encode(as_task_entry(item), item.letter),
                event=(item.event.id, item.event.stored_json()) if item.event else None,
            )
            for item in items
        ]
        return await self._lua.run(calls) if calls else []


def _task_id(delivery: Delivery[Result]) -> str:
    assert delivery.message is not None  # only decoded Results are looked up
    return delivery.message.task_id
