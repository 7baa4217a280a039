"""An in-memory :class:`~chimera.ports.queue.TaskQueue`, ``ResultQueue`` and ``QueueStats``.

It does what :class:`~chimera.lib.redis_queue.RedisQueue` and its scripts do, step for
step, on a :class:`~chimera.testing.fakes.store.MemoryStore`: consumer groups, pending
entries with owners and delivery counts, idle time from the store's clock, reclaiming,
the delayed set, the ledger and the session counters. Each call changes the store in one
step (nothing else runs in between), as one Lua script call would. The shared contract
suite (``tests/chimera/contracts``) runs the same tests against both.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from chimera.lib.admission import admission, undecodable
from chimera.lib.fields import (
    BODY,
    QUOTA_AT,
    QUOTA_THROTTLED,
    QUOTA_TOKENS,
    SESSION_STATE,
    TRACEPARENT,
    AdmitReply,
    Counter,
    Settled,
)
from chimera.lib.keys import JUDGE_GROUP, WORKER_GROUP
from chimera.lib.records import dead_letter as dead_letter_record
from chimera.lib.records import review_item
from chimera.lib.records import settled as settled_record
from chimera.lib.stream_entry import decode_entry
from chimera.models.audit import AuditEvent
from chimera.models.result import Result
from chimera.models.session import SessionState
from chimera.models.task import Task
from chimera.ports.queue import (
    IN_FLIGHT_RECHECK_MS,
    NO_LIMITS,
    Admission,
    DeadLetter,
    Delivery,
    FairRead,
    StreamStats,
    TenantLimits,
    TenantStats,
    ThrottleChange,
)
from chimera.ports.stores import ReviewItem
from chimera.testing.fakes.pending import keep_pending
from chimera.testing.fakes.store import MemoryStore, TenantData
from chimera.testing.fakes.streams import Delivered, Stream

M = TypeVar("M", Task, Result)
HALTED = SessionState.HALTED.value


class FakeQueue:
    """The queue ports in memory. Planned faults are named ``"queue.<method>"``.

    Args:
        store: the shared state (a new one when omitted).
    """

    def __init__(self, store: MemoryStore | None = None) -> None:
        self.store = store or MemoryStore()

    async def _enter(self, method: str) -> None:
        # A real adapter awaits the network here: let other tasks run, then fail if told.
        await asyncio.sleep(0)
        self.store.faults.check(f"queue.{method}")

    def _data(self, tenant: str) -> TenantData:
        return self.store.tenant(tenant)

    # -- set-up -------------------------------------------------------------------------

    async def ensure_groups(self, tenants: Sequence[str]) -> None:
        """Create the task and result groups of ``tenants`` (idempotent)."""
        await self._enter("ensure_groups")
        for tenant in tenants:
            self._data(tenant).tasks.group(WORKER_GROUP)
            self._data(tenant).results.group(JUDGE_GROUP)

    # -- planner side -------------------------------------------------------------------

    async def enqueue(
        self, tasks: Sequence[Task], traceparents: Sequence[str | None] | None = None
    ) -> list[str]:
        """Add tasks to streams and ledgers and count them in their sessions."""
        await self._enter("enqueue")
        now = self.store.now_ms()
        ids = []
        for index, task in enumerate(tasks):
            data = self._data(task.tenant)
            data.tasks.group(WORKER_GROUP)
            data.results.group(JUDGE_GROUP)
            body = task.model_dump_json()
            parent = (traceparents[index] if traceparents is not None else None) or ""
            ids.append(data.tasks.add({BODY: body, TRACEPARENT: parent}, now))
            data.ledger[task.id] = body
            data.session_tasks.setdefault(task.session, set()).add(task.id)
            data.sessions.add(task.session)
            data.count(task.session, Counter.SUBMITTED)
        if ids:
            self.store.added()
        return ids

    # -- worker side --------------------------------------------------------------------

    async def read_tasks(
        self, consumer: str, tenants: Sequence[str], count: int, block_ms: int
    ) -> list[Delivery[Task]]:
        """Deliver new tasks; ``count`` is split across the tenants, as in Redis."""
        await self._enter("read_tasks")
        return await self._read(tenants, "tasks", WORKER_GROUP, consumer, count, block_ms, Task)

    async def read_within(
        self,
        consumer: str,
        shares: Mapping[str, int],
        limits: Mapping[str, TenantLimits],
        block_ms: int,
    ) -> FairRead:
        """Each tenant's share within its limits (``read_tasks.lua``); the store's clock."""
        await self._enter("read_within")
        wanted = {tenant: n for tenant, n in shares.items() if n > 0}
        if not wanted:
            return FairRead()
        read = self._read_quota(consumer, wanted, limits)
        if read.deliveries or block_ms <= 0:
            return read
        if any(t not in read.limited for t in wanted):
            await self.store.wait_for_entries(block_ms)
        else:
            await asyncio.sleep(min(block_ms, IN_FLIGHT_RECHECK_MS) / 1000.0)
        return read.merge(self._read_quota(consumer, wanted, limits))

    def _read_quota(
        self, consumer: str, wanted: Mapping[str, int], limits: Mapping[str, TenantLimits]
    ) -> FairRead:
        now_ms, now = self.store.now_ms(), self.store.clock()
        read = FairRead()
        for tenant, count in wanted.items():
            data, limit = self._data(tenant), limits.get(tenant, NO_LIMITS)
            data.tasks.group(WORKER_GROUP)
            allowed, limited = count, ""
            if limit.max_in_flight:
                room = limit.max_in_flight - len(data.tasks.group(WORKER_GROUP).pending)
                if room < allowed:
                    allowed, limited = max(room, 0), "in_flight"
            tokens = 0.0
            if limit.rate_per_s:
                stored = float(data.quota.get(QUOTA_TOKENS, limit.burst))
                at = float(data.quota.get(QUOTA_AT, now))
                tokens = min(limit.burst, stored + max(0.0, now - at) * limit.rate_per_s)
                if int(tokens) < allowed:
                    allowed, limited = int(tokens), "rate"
            got = data.tasks.read_new(WORKER_GROUP, consumer, allowed, now_ms) if allowed else []
            if limit.rate_per_s:
                data.quota[QUOTA_TOKENS] = str(tokens - len(got))
                data.quota[QUOTA_AT] = str(now)
            read.got[tenant] = len(got)
            read.deliveries.extend(_decode(Task, tenant, g, deliveries=1) for g in got)
            if limited:
                read.limited[tenant] = limited
            if limit.max_in_flight or limit.rate_per_s:
                change = _throttle(data, limited, data.tasks.lag(WORKER_GROUP) > 0)
                if change is not None:
                    read.changes.append(ThrottleChange(tenant, *change))
        return read

    async def admit(self, deliveries: Sequence[Delivery[Task]]) -> list[Admission]:
        """Whether to run each entry, by its tenant's ledger (``admit_tasks.lua``)."""
        await self._enter("admit")
        return [self._admit(delivery) for delivery in deliveries]

    def _admit(self, delivery: Delivery[Task]) -> Admission:
        task = delivery.message
        if task is None:
            return undecodable(delivery)
        data = self._data(delivery.tenant)
        row = data.ledger.get(task.id)
        if row is None:
            reply = AdmitReply.SETTLED if task.id in data.settled else AdmitReply.UNKNOWN
        elif task.id in data.review:
            reply = AdmitReply.REVIEW
        elif row != (delivery.raw or task.model_dump_json()):
            reply = AdmitReply.STALE
        elif data.session_hashes.get(task.session, {}).get(SESSION_STATE) == HALTED:
            reply = AdmitReply.HALTED
        else:
            reply = AdmitReply.RUN
        return admission(delivery, reply)

    async def discard(self, deliveries: Sequence[Delivery[Task]]) -> list[bool]:
        """Ack and delete entries still pending (``discard_entries.lua``)."""
        await self._enter("discard")
        return [self._ack_and_delete(self._data(d.tenant).tasks, d.entry_id) for d in deliveries]

    async def complete(self, done: Sequence[tuple[Delivery[Task], Result]]) -> None:
        """Publish Results for entries still pending, and ack and delete those entries."""
        await self._enter("complete")
        now = self.store.now_ms()
        for delivery, result in done:
            data = self._data(delivery.tenant)
            if data.tasks.ack(WORKER_GROUP, delivery.entry_id):
                data.results.add(_with_trace({BODY: result.model_dump_json()}, delivery), now)
                data.tasks.delete(delivery.entry_id)
            spent = result.usage.prompt_tokens + result.usage.completion_tokens
            if spent:  # count_usage.lua
                day = result.finished_at.astimezone(UTC).date().isoformat()
                data.usage[day] = str(int(data.usage.get(day, "0")) + spent)
                data.count(result.session, Counter.TOKENS, spent)
        if done:
            self.store.added()

    async def retry_later(
        self,
        items: Sequence[tuple[Delivery[Task], Task, float]],
        count_as_retry: bool = True,
        events: Sequence[AuditEvent | None] | None = None,
    ) -> list[bool]:
        """Ack each entry and schedule its next attempt (``retry_task.lua``)."""
        await self._enter("retry_later")
        out = []
        kept = events or [None] * len(items)
        for (delivery, task, due), event in zip(items, kept, strict=True):
            data = self._data(delivery.tenant)
            if not self._ack_and_delete(data.tasks, delivery.entry_id):
                out.append(False)
                continue
            if not _live(data, task.id):
                out.append(False)  # a stale copy of a task whose other copy won
                continue
            body = task.model_dump_json()
            data.delayed[body] = due
            data.ledger[task.id] = body
            data.keep_trace(task.id, delivery.traceparent)
            if count_as_retry:
                data.count(task.session, Counter.RETRIED)
            keep_pending(data, event)
            out.append(True)
        return out

    async def park_for_review(
        self,
        items: Sequence[tuple[Delivery[Task], ReviewItem]],
        events: Sequence[AuditEvent | None] | None = None,
    ) -> list[bool]:
        """Ack each entry and park its task for review (``park_for_review.lua``)."""
        await self._enter("park_for_review")
        out = []
        for (delivery, item), event in zip(items, events or [None] * len(items), strict=True):
            data = self._data(delivery.tenant)
            if not self._ack_and_delete(data.tasks, delivery.entry_id):
                out.append(False)
                continue
            task_id = item.task.id
            if not _live(data, task_id):
                out.append(False)
                continue
            data.review[task_id] = review_item.encode(item)
            data.count(item.task.session, Counter.REVIEW)
            keep_pending(data, event)
            out.append(True)
        return out

    async def dead_letter(
        self,
        items: Sequence[tuple[Delivery[Task], DeadLetter]],
        events: Sequence[AuditEvent | None] | None = None,
    ) -> list[bool]:
        """Ack each entry and dead-letter its task (``dead_letter_task.lua``)."""
        await self._enter("dead_letter")
        now = self.store.now_ms()
        out = []
        for (delivery, letter), event in zip(items, events or [None] * len(items), strict=True):
            data = self._data(delivery.tenant)
            task = delivery.message if letter.in_ledger else None
            if not self._ack_and_delete(data.tasks, delivery.entry_id):
                out.append(False)
                continue
            if task is not None and not _live(data, task.id):
                out.append(False)
                continue
            letter_json = dead_letter_record.encode(delivery, letter)
            data.dlq.add(_with_trace({BODY: letter_json}, delivery), now)
            if task is not None:
                data.ledger.pop(task.id, None)
                data.settled[task.id] = settled_record.encode(Settled.DEAD_LETTERED)
                data.count(task.session, Counter.DEAD_LETTERED)
            keep_pending(data, event)
            out.append(True)
        return out

    async def promote_due(self, tenants: Sequence[str], now: float, limit: int = 1000) -> int:
        """Move due delayed tasks (oldest due first, ``limit`` per tenant) into the streams."""
        await self._enter("promote_due")
        now_ms, moved = self.store.now_ms(), 0
        for tenant in tenants:
            data = self._data(tenant)
            due = sorted((score, member) for member, score in data.delayed.items() if score <= now)
            for _, member in due[:limit]:
                task_id = _TASK_ID.match(member)
                trace = data.delayed_traces.pop(task_id.group(1), "") if task_id else ""
                data.tasks.add(
                    {BODY: member, TRACEPARENT: trace} if trace else {BODY: member}, now_ms
                )
                del data.delayed[member]
                moved += 1
        if moved:
            self.store.added()
        return moved

    async def claim_stale(
        self, consumer: str, tenants: Sequence[str], min_idle_ms: int, count: int
    ) -> list[Delivery[Task]]:
        """Take over tasks idle at least ``min_idle_ms`` (XAUTOCLAIM)."""
        await self._enter("claim_stale")
        return self._autoclaim(tenants, "tasks", WORKER_GROUP, consumer, min_idle_ms, count, Task)

    async def renew(
        self, consumer: str, deliveries: Sequence[Delivery[Task]]
    ) -> set[tuple[str, str]]:
        """Reset the idle time of entries ``consumer`` still owns; return their keys."""
        await self._enter("renew")
        return self._renew(consumer, deliveries, "tasks", WORKER_GROUP)

    async def renew_results(
        self, consumer: str, deliveries: Sequence[Delivery[Result]]
    ) -> set[tuple[str, str]]:
        """Reset the idle time of Results ``consumer`` still owns; return their keys."""
        await self._enter("renew_results")
        return self._renew(consumer, deliveries, "results", JUDGE_GROUP)

    def _renew(
        self, consumer: str, deliveries: Sequence[Delivery[M]], which: str, group: str
    ) -> set[tuple[str, str]]:
        now, owned = self.store.now_ms(), set()
        for delivery in deliveries:
            stream: Stream = getattr(self._data(delivery.tenant), which)
            if stream.owner(group, delivery.entry_id) != consumer:
                continue
            if delivery.entry_id in stream.entries:
                stream.renew(group, consumer, delivery.entry_id, now)
            else:  # XCLAIM drops a pending entry whose stream entry is gone (Redis 7)
                stream.ack(group, delivery.entry_id)
            owned.add(delivery.key)
        return owned

    async def release(self, deliveries: Sequence[Delivery[Task]]) -> None:
        """Hand unfinished tasks back as fresh entries (``release_task.lua``)."""
        await self._enter("release")
        now = self.store.now_ms()
        for delivery in deliveries:
            stream = self._data(delivery.tenant).tasks
            if delivery.message is None:
                continue  # only an excerpt is kept: it stays pending, to be dead-lettered
            if self._ack_and_delete(stream, delivery.entry_id):
                body = delivery.raw or delivery.message.model_dump_json()
                stream.add(_with_trace({BODY: body}, delivery), now)
        if deliveries:
            self.store.added()

    async def prune_consumers(self, tenants: Sequence[str], idle_ms: int) -> int:
        """Forget consumers idle longer than ``idle_ms`` with nothing pending."""
        await self._enter("prune_consumers")
        now, pruned = self.store.now_ms(), 0
        for tenant in tenants:
            data = self._data(tenant)
            for stream, group_name in ((data.tasks, WORKER_GROUP), (data.results, JUDGE_GROUP)):
                group = stream.groups.get(group_name)
                if group is None:
                    continue
                busy = {p.consumer for p in group.pending.values()}
                for name, seen in list(group.consumers.items()):
                    if name not in busy and now - seen > idle_ms:
                        del group.consumers[name]
                        pruned += 1
        return pruned

    # -- judge side ---------------------------------------------------------------------

    async def read_results(
        self, consumer: str, tenants: Sequence[str], count: int, block_ms: int
    ) -> list[Delivery[Result]]:
        """Deliver new Results."""
        await self._enter("read_results")
        return await self._read(tenants, "results", JUDGE_GROUP, consumer, count, block_ms, Result)

    async def read_own_pending(
        self, consumer: str, tenants: Sequence[str], count: int
    ) -> list[Delivery[Result]]:
        """Re-deliver Results given to ``consumer`` and never acked (reported as delivery 2)."""
        await self._enter("read_own_pending")
        if not tenants or count <= 0:
            return []
        per_stream, now = max(1, math.ceil(count / len(tenants))), self.store.now_ms()
        out: list[Delivery[Result]] = []
        for tenant in tenants:
            stream = self._data(tenant).results
            for got in stream.read_own(JUDGE_GROUP, consumer, per_stream, now):
                out.append(_decode(Result, tenant, got, deliveries=2))
        return out

    async def claim_stale_results(
        self, consumer: str, tenants: Sequence[str], min_idle_ms: int, count: int
    ) -> list[Delivery[Result]]:
        """Take over Results another Judge left pending too long."""
        await self._enter("claim_stale_results")
        return self._autoclaim(
            tenants, "results", JUDGE_GROUP, consumer, min_idle_ms, count, Result
        )

    # -- status -------------------------------------------------------------------------

    async def stats(self, tenant: str) -> TenantStats:
        """The figures of ``tenant``."""
        await self._enter("stats")
        data = self._data(tenant)
        return TenantStats(
            tenant=tenant,
            tasks=_stream_stats(data.tasks, WORKER_GROUP),
            results=_stream_stats(data.results, JUDGE_GROUP),
            delayed=len(data.delayed),
            review=len(data.review),
            dead_lettered=len(data.dlq),
            committed=len(data.committed),
            throttled=data.quota.get(QUOTA_THROTTLED),
            tokens_today=int(data.usage.get(_day(self.store.clock()), "0")),
        )

    # -- shared -------------------------------------------------------------------------

    def _ack_and_delete(self, stream: Stream, entry_id: str) -> bool:
        if not stream.ack(WORKER_GROUP, entry_id):
            return False
        stream.delete(entry_id)
        return True

    async def _read(
        self,
        tenants: Sequence[str],
        which: str,
        group: str,
        consumer: str,
        count: int,
        block_ms: int,
        model: type[M],
    ) -> list[Delivery[M]]:
        if not tenants or count <= 0:
            return []
        per_stream = max(1, math.ceil(count / len(tenants)))
        out = self._read_now(tenants, which, group, consumer, per_stream, model)
        if not out and block_ms > 0:
            await self.store.wait_for_entries(block_ms)
            out = self._read_now(tenants, which, group, consumer, per_stream, model)
        return out

    def _read_now(
        self,
        tenants: Sequence[str],
        which: str,
        group: str,
        consumer: str,
        per_stream: int,
        model: type[M],
    ) -> list[Delivery[M]]:
        now = self.store.now_ms()
        out: list[Delivery[M]] = []
        for tenant in tenants:
            stream: Stream = getattr(self._data(tenant), which)
            for got in stream.read_new(group, consumer, per_stream, now):
                out.append(_decode(model, tenant, got, deliveries=1))
        return out

    def _autoclaim(
        self,
        tenants: Sequence[str],
        which: str,
        group: str,
        consumer: str,
        min_idle_ms: int,
        count: int,
        model: type[M],
    ) -> list[Delivery[M]]:
        now = self.store.now_ms()
        claimed: list[Delivery[M]] = []
        for tenant in tenants:
            stream: Stream = getattr(self._data(tenant), which)
            for got in stream.autoclaim(group, consumer, min_idle_ms, count, now):
                claimed.append(_decode(model, tenant, got, deliveries=got.deliveries))
        return claimed


#: A Task's JSON starts with its id (``promote_due.lua`` reads it the same way).
_TASK_ID = re.compile(r'^\{"id":"([^"]+)"')


def _with_trace(fields: dict[str, str], delivery: Delivery[M]) -> dict[str, str]:
    """``fields`` plus the ``traceparent`` of ``delivery``, when it has one."""
    if delivery.traceparent:
        return {**fields, TRACEPARENT: delivery.traceparent}
    return fields


def _decode(model: type[M], tenant: str, got: Delivered, deliveries: int) -> Delivery[M]:
    return decode_entry(model, tenant, got.entry_id, got.fields, deliveries)


def _day(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).date().isoformat()


def _throttle(data: TenantData, limited: str, backlog: bool) -> tuple[bool, str] | None:
    """The throttle state step of ``read_tasks.lua``: the change seen, if any."""
    state = data.quota.get(QUOTA_THROTTLED)
    held = bool(limited) and backlog
    if held:
        data.quota[QUOTA_THROTTLED] = limited
        return (True, limited) if state is None else None
    if state is not None:
        del data.quota[QUOTA_THROTTLED]
        return (False, state)
    return None


def _stream_stats(stream: Stream, group_name: str) -> StreamStats:
    group = stream.groups.get(group_name)
    if group is None:
        return StreamStats(length=len(stream), pending=0, consumers=0, lag=None)
    return StreamStats(
        length=len(stream),
        pending=len(group.pending),
        consumers=len(group.consumers),
        lag=stream.lag(group_name),
    )


def _live(data: TenantData, task_id: str) -> bool:
    """Whether a task is live: it has a ledger row, has not settled and waits for no review.

    The ledger row decides (as in the scripts): retention may trim settled marks.
    """
    return task_id in data.ledger and task_id not in data.settled and task_id not in data.review
