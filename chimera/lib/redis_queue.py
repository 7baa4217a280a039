"""Redis Streams adapter for the queue ports.

One consumer group per stream (``workers`` on tasks, ``judges`` on results). Batches are
pipelined: enqueue, complete and every Lua step cost one round trip per call, whatever the
batch size. Reads take ``COUNT`` from the caller's free capacity so a Worker never holds
more entries than it has slots for.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC
from typing import Any, TypeVar, cast

import redis.asyncio as aioredis
from redis.client import NEVER_DECODE
from redis.exceptions import NoPermissionError, ResponseError

from chimera.lib.admission import admission, undecodable
from chimera.lib.decoded import DecodedCache
from chimera.lib.fields import QUOTA_THROTTLED, UNKNOWN_SESSION
from chimera.lib.keys import JUDGE_GROUP, WORKER_GROUP, Keyspace, TenantKeys
from chimera.lib.lua.control_scripts import CountUsage, QuotaRead, ReadTasks
from chimera.lib.lua.park_scripts import ParkForReview
from chimera.lib.lua.task_scripts import (
    AdmitTasks,
    DeadLetterTask,
    DiscardEntries,
    EnqueueTasks,
    NewEntry,
    PromoteDue,
    PublishResults,
    ReleaseTask,
    RenewLeases,
    RetryTask,
)
from chimera.lib.lua.wrapper import PendingEvent
from chimera.lib.records import dead_letter as dead_letter_record
from chimera.lib.records import review_item
from chimera.lib.redis_cluster import is_cluster
from chimera.lib.redis_lua import Call, LuaBatch
from chimera.lib.redis_slot_reads import last_delivered, read_group, wait_any
from chimera.lib.stream_entry import decode_entry
from chimera.models.audit import AuditEvent
from chimera.models.result import Result
from chimera.models.task import Task
from chimera.models.types import utc_now
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

M = TypeVar("M", Task, Result)

#: How many entries one XAUTOCLAIM call may examine; the cursor is followed past it.
_AUTOCLAIM_PAGE = 100
#: Pause after an empty non-blocking read from the embedded server.
_EMBEDDED_IDLE_S = 0.005


class RedisQueue:
    """Implements :class:`~chimera.ports.queue.TaskQueue`, ``ResultQueue`` and ``QueueStats``.

    Args:
        client: a ``redis.asyncio`` client created with ``decode_responses=True``. Stream
            entries are still read undecoded (``NEVER_DECODE``) and decoded one by one
            (:mod:`chimera.lib.stream_entry`).
        keyspace: where the keys live (tests pass their own prefix).
    """

    def __init__(
        self,
        client: aioredis.Redis,
        keyspace: Keyspace | None = None,
        decoded: DecodedCache | None = None,
    ) -> None:
        self.client = client
        self.keys = keyspace or Keyspace()
        #: Tasks read and Results published here, for a Judge of this process to reuse.
        self.decoded = decoded if decoded is not None else DecodedCache()
        self._groups_ready: set[str] = set()
        self._lua = LuaBatch(client)
        # A cluster serves each tenant's slot from its own master: reads go per slot.
        self._per_slot = is_cluster(client)

    # -- set-up -------------------------------------------------------------------------

    async def ensure_groups(self, tenants: Sequence[str]) -> None:
        """Create task and result streams with their groups (MKSTREAM); BUSYGROUP is fine."""
        wanted = [
            (stream, group)
            for tenant in tenants
            for stream, group in (
                (self.keys.tenant(tenant).tasks, WORKER_GROUP),
                (self.keys.tenant(tenant).results, JUDGE_GROUP),
            )
            if stream not in self._groups_ready
        ]
        if not wanted:
            return
        async with self.client.pipeline(transaction=False) as pipe:
            for stream, group in wanted:
                pipe.xgroup_create(stream, group, id="0", mkstream=True)
            replies = await pipe.execute(raise_on_error=False)
        for (stream, _), reply in zip(wanted, replies, strict=True):
            if isinstance(reply, ResponseError) and "BUSYGROUP" not in str(reply):
                raise reply
            self._groups_ready.add(stream)

    # -- planner side -------------------------------------------------------------------

    async def enqueue(
        self, tasks: Sequence[Task], traceparents: Sequence[str | None] | None = None
    ) -> list[str]:
        """Add tasks to streams and ledgers, count them in their sessions; one round trip.

        Each tenant-and-session group is one Lua call, so a task is never in the stream
        without its ledger row (the Judge would reject its Result) or the other way round.
        Each entry carries its ``traceparent`` (empty when the task is not traced).
        """
        if not tasks:
            return []
        await self.ensure_groups(sorted({t.tenant for t in tasks}))
        groups: dict[tuple[str, str], list[int]] = defaultdict(list)
        for index, task in enumerate(tasks):
            groups[(task.tenant, task.session)].append(index)
        calls = [
            EnqueueTasks.of(self.keys.tenant(tenant), session).call(
                session_id=session,
                entries=[
                    NewEntry(
                        tasks[i].id,
                        tasks[i].model_dump_json(),
                        (traceparents[i] if traceparents is not None else None) or "",
                    )
                    for i in indexes
                ],
            )
            for (tenant, session), indexes in groups.items()
        ]
        replies = await self._lua.run(calls)
        entry_ids = [""] * len(tasks)
        for indexes, reply in zip(groups.values(), replies, strict=True):
            for index, entry_id in zip(indexes, reply, strict=True):
                entry_ids[index] = entry_id
        return entry_ids

    # -- worker side --------------------------------------------------------------------

    async def read_tasks(
        self, consumer: str, tenants: Sequence[str], count: int, block_ms: int
    ) -> list[Delivery[Task]]:
        """XREADGROUP new tasks from every tenant stream in one call.

        ``COUNT`` applies per stream in Redis, so it is split across the tenants: the total
        delivered stays near ``count`` instead of ``count`` times the tenant count.
        """
        streams = {self.keys.tenant(t).tasks: t for t in tenants}
        return await self._read(streams, WORKER_GROUP, consumer, count, block_ms, Task)

    async def admit(self, deliveries: Sequence[Delivery[Task]]) -> list[Admission]:
        """Ask each tenant's ledger whether to run each entry; one round trip for all.

        One ``ADMIT_TASKS`` call per tenant and session, all in one pipeline; an entry that
        did not decode is answered here without asking Redis.
        """
        out: list[Admission] = [undecodable(d) for d in deliveries]
        groups: dict[tuple[str, str], list[int]] = defaultdict(list)
        for index, delivery in enumerate(deliveries):
            if delivery.message is not None:
                groups[(delivery.tenant, delivery.message.session)].append(index)
        if not groups:
            return out
        calls = [
            AdmitTasks.of(self.keys.tenant(tenant), session).call(
                entries=[(_task(deliveries[i]).id, _body(deliveries[i])) for i in indexes]
            )
            for (tenant, session), indexes in groups.items()
        ]
        replies = await self._lua.run(calls)
        for indexes, answers in zip(groups.values(), replies, strict=True):
            for index, answer in zip(indexes, answers, strict=True):
                out[index] = admission(deliveries[index], answer)
        return out

    async def discard(self, deliveries: Sequence[Delivery[Task]]) -> list[bool]:
        """Ack and delete stale copies: one ``DISCARD_ENTRIES`` call per tenant."""
        by_tenant: dict[str, list[str]] = defaultdict(list)
        for delivery in deliveries:
            by_tenant[delivery.tenant].append(delivery.entry_id)
        if not by_tenant:
            return []
        calls = [
            DiscardEntries.of(self.keys.tenant(tenant)).call(group=WORKER_GROUP, entry_ids=ids)
            for tenant, ids in by_tenant.items()
        ]
        replies = await self._lua.run(calls)
        gone = {
            (tenant, entry) for tenant, ids in zip(by_tenant, replies, strict=True) for entry in ids
        }
        return [delivery.key in gone for delivery in deliveries]

    async def read_within(
        self,
        consumer: str,
        shares: Mapping[str, int],
        limits: Mapping[str, TenantLimits],
        block_ms: int,
    ) -> FairRead:
        """Each tenant's share through ``READ_TASKS`` (its limits applied atomically).

        When nothing was read, waits (``XREAD BLOCK``) for a new entry of a tenant no limit
        held back, at most until a held-back tenant may have room again, then reads once
        more.
        """
        wanted = {tenant: n for tenant, n in shares.items() if n > 0}
        if not wanted:
            return FairRead()
        await self.ensure_groups(sorted(wanted))
        read, newest, retry_ms = await self._read_quota(consumer, wanted, limits)
        if read.deliveries or block_ms <= 0:
            return read
        wait_ms = min([block_ms, *retry_ms.values()])
        waiting: dict[Any, Any] = {
            self.keys.tenant(t).tasks: i for t, i in newest.items() if t not in read.limited
        }
        began = time.monotonic()
        if waiting and self._per_slot:
            await wait_any(self.client, waiting, wait_ms)
        elif waiting:
            await self.client.xread(waiting, count=1, block=max(1, wait_ms))
        left = wait_ms / 1000.0 - (time.monotonic() - began)
        if left > 0:
            # Nothing to wait on (every tenant held back), or the embedded server, which
            # does not block: pause a little ourselves so a reader neither spins nor starves.
            await asyncio.sleep(left if not waiting else min(left, _EMBEDDED_IDLE_S))
        again, _, _ = await self._read_quota(consumer, wanted, limits)
        return read.merge(again)

    async def _read_quota(
        self, consumer: str, wanted: Mapping[str, int], limits: Mapping[str, TenantLimits]
    ) -> tuple[FairRead, dict[str, str], dict[str, int]]:
        """One ``READ_TASKS`` call per tenant in one round trip: the read, newest ids, hints."""
        calls = []
        for tenant, count in wanted.items():
            limit = limits.get(tenant, NO_LIMITS)
            calls.append(
                ReadTasks.of(self.keys.tenant(tenant)).call(
                    group=WORKER_GROUP,
                    consumer=consumer,
                    count=count,
                    max_in_flight=limit.max_in_flight or 0,
                    rate=limit.rate_per_s or 0,
                    burst=limit.burst,
                )
            )
        try:
            replies: list[QuotaRead] = await self._lua.run(calls)
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # A stream or group vanished (FLUSHALL, failover): recreate, read next time.
            self._groups_ready.difference_update(self.keys.tenant(t).tasks for t in wanted)
            await self.ensure_groups(sorted(wanted))
            return FairRead(), {}, {}
        read, newest, retry_ms = FairRead(), {}, {}
        for tenant, reply in zip(wanted, replies, strict=True):
            read.got[tenant] = len(reply.entries)
            read.deliveries.extend(
                decode_entry(Task, tenant, entry_id, fields, 1, self.decoded, keep=True)
                for entry_id, fields in reply.entries
            )
            newest[tenant] = reply.newest
            if reply.limited:
                read.limited[tenant] = reply.limited
                retry_ms[tenant] = reply.retry_ms or IN_FLIGHT_RECHECK_MS
            if reply.change:
                throttled = reply.change == "throttled"
                read.changes.append(ThrottleChange(tenant, throttled, reply.about))
        return read, newest, retry_ms

    async def complete(self, done: Sequence[tuple[Delivery[Task], Result]]) -> None:
        """Publish Results and ack their tasks: one atomic Lua call per tenant, one round trip.

        Publishing and acking together means a crash can never leave a task acked without
        its Result, nor (within a tenant) a Result published for a task still pending. The
        Results' LLM tokens are counted (``COUNT_USAGE``, per tenant, session and UTC day of
        the Result) in the same round trip, right after.
        """
        if not done:
            return
        by_tenant: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
        tokens: dict[tuple[str, str, str], int] = defaultdict(int)
        for delivery, result in done:
            body = result.model_dump_json()
            self.decoded.remember(body, result)  # for this process's Judge, if it has one
            by_tenant[delivery.tenant].append((delivery.entry_id, body, delivery.traceparent or ""))
            spent = result.usage.prompt_tokens + result.usage.completion_tokens
            if spent:
                day = result.finished_at.astimezone(UTC).date().isoformat()
                tokens[(delivery.tenant, result.session, day)] += spent
        calls: list[Call[int]] = [
            PublishResults.of(self.keys.tenant(tenant)).call(group=WORKER_GROUP, answers=answers)
            for tenant, answers in by_tenant.items()
        ]
        calls += [
            CountUsage.of(self.keys.tenant(tenant), session).call(day=day, tokens=spent)
            for (tenant, session, day), spent in tokens.items()
        ]
        await self._lua.run(calls)

    async def retry_later(
        self,
        items: Sequence[tuple[Delivery[Task], Task, float]],
        count_as_retry: bool = True,
        events: Sequence[AuditEvent | None] | None = None,
    ) -> list[bool]:
        """Ack each task and put its next attempt in the delayed set, atomically per task.

        ``count_as_retry=False`` defers a task without counting a retry (halted sessions).
        ``events[i]`` is kept in the pending-audit hash with item ``i``'s retry.
        """
        if not items:
            return []
        kept = events or [None] * len(items)
        calls = [
            RetryTask.of(self.keys.tenant(delivery.tenant), task.session).call(
                group=WORKER_GROUP,
                entry_id=delivery.entry_id,
                task_id=task.id,
                next_json=task.model_dump_json(),
                due=due,
                count_retry=count_as_retry,
                event=_pending(event),
                traceparent=delivery.traceparent or "",
            )
            for (delivery, task, due), event in zip(items, kept, strict=True)
        ]
        return await self._lua.run(calls)

    async def park_for_review(
        self,
        items: Sequence[tuple[Delivery[Task], ReviewItem]],
        events: Sequence[AuditEvent | None] | None = None,
    ) -> list[bool]:
        """Ack each task and park it for review with its item, atomically per task."""
        if not items:
            return []
        kept = events or [None] * len(items)
        calls = [
            ParkForReview.of(self.keys.tenant(delivery.tenant), item.task.session).call(
                group=WORKER_GROUP,
                entry_id=delivery.entry_id,
                task_id=item.task.id,
                item_json=review_item.encode(item),
                event=_pending(event),
            )
            for (delivery, item), event in zip(items, kept, strict=True)
        ]
        return await self._lua.run(calls)

    async def dead_letter(
        self,
        items: Sequence[tuple[Delivery[Task], DeadLetter]],
        events: Sequence[AuditEvent | None] | None = None,
    ) -> list[bool]:
        """Move each task to its tenant's dead-letter stream, atomically with its ack.

        ``events[i]`` is kept in the pending-audit hash with item ``i``'s dead letter.
        """
        if not items:
            return []
        calls = []
        for (delivery, letter), event in zip(items, events or [None] * len(items), strict=True):
            # A task that is not in its tenant's ledger is stored as an orphan: no ledger
            # row, settled mark or session of the tenant is touched on its account.
            task = delivery.message if letter.in_ledger else None
            script = DeadLetterTask.of(
                self.keys.tenant(delivery.tenant), task.session if task else UNKNOWN_SESSION
            )
            calls.append(
                script.call(
                    group=WORKER_GROUP,
                    entry_id=delivery.entry_id,
                    task_id=task.id if task else "",
                    letter_json=dead_letter_record.encode(delivery, letter),
                    event=_pending(event),
                    traceparent=delivery.traceparent or "",
                )
            )
        return await self._lua.run(calls)

    async def promote_due(self, tenants: Sequence[str], now: float, limit: int = 1000) -> int:
        """Move due retries back into the task streams; one round trip for all tenants."""
        moved = await self._lua.run(
            [PromoteDue.of(self.keys.tenant(t)).call(now=now, limit=limit) for t in tenants]
        )
        return sum(moved)

    async def claim_stale(
        self, consumer: str, tenants: Sequence[str], min_idle_ms: int, count: int
    ) -> list[Delivery[Task]]:
        """XAUTOCLAIM tasks idle past the lease, following the cursor across the stream."""
        streams = {self.keys.tenant(t).tasks: t for t in tenants}
        return await self._autoclaim(streams, WORKER_GROUP, consumer, min_idle_ms, count, Task)

    async def renew(
        self, consumer: str, deliveries: Sequence[Delivery[Task]]
    ) -> set[tuple[str, str]]:
        """Renew task entries (see :meth:`_renew`)."""
        return await self._renew(consumer, deliveries, RenewLeases.of, WORKER_GROUP)

    async def renew_results(
        self, consumer: str, deliveries: Sequence[Delivery[Result]]
    ) -> set[tuple[str, str]]:
        """Renew Result entries a Judge holds (see :meth:`_renew`)."""
        return await self._renew(consumer, deliveries, RenewLeases.of_results, JUDGE_GROUP)

    async def _renew(
        self,
        consumer: str,
        deliveries: Sequence[Delivery[Any]],
        script: Callable[[TenantKeys], RenewLeases],
        group: str,
    ) -> set[tuple[str, str]]:
        """Reset idle time of entries ``consumer`` still owns (``XCLAIM ... JUSTID``).

        Ownership is checked inside the script, so renewing never takes an entry back from
        a consumer that reclaimed it.
        """
        by_tenant: dict[str, list[str]] = defaultdict(list)
        for delivery in deliveries:
            by_tenant[delivery.tenant].append(delivery.entry_id)
        if not by_tenant:
            return set()
        calls = [
            script(self.keys.tenant(tenant)).call(group=group, consumer=consumer, entry_ids=ids)
            for tenant, ids in by_tenant.items()
        ]
        replies = await self._lua.run(calls)
        return {
            (tenant, entry)
            for tenant, owned in zip(by_tenant, replies, strict=True)
            for entry in owned
        }

    async def release(self, deliveries: Sequence[Delivery[Task]]) -> None:
        """Re-add unfinished tasks as fresh entries so any Worker takes them at once.

        Each goes back as the body it was read with, byte for byte (the ledger row it must
        match). An entry that never decoded is not handed back: only an excerpt of it is
        kept, so it stays pending, to be reclaimed and dead-lettered.
        """
        calls = [
            ReleaseTask.of(self.keys.tenant(d.tenant)).call(
                group=WORKER_GROUP,
                entry_id=d.entry_id,
                body=_body(d),
                traceparent=d.traceparent or "",
            )
            for d in deliveries
            if d.message is not None
        ]
        if calls:
            await self._lua.run(calls)

    async def prune_consumers(self, tenants: Sequence[str], idle_ms: int) -> int:
        """XGROUP DELCONSUMER every idle consumer without pending entries."""
        groups = [
            (stream, group)
            for tenant in tenants
            for stream, group in (
                (self.keys.tenant(tenant).tasks, WORKER_GROUP),
                (self.keys.tenant(tenant).results, JUDGE_GROUP),
            )
        ]
        async with self.client.pipeline(transaction=False) as pipe:
            for stream, group in groups:
                pipe.xinfo_consumers(stream, group)
            listings = await pipe.execute(raise_on_error=False)
        doomed = [
            (stream, group, str(consumer["name"]))
            for (stream, group), consumers in zip(groups, listings, strict=True)
            if not isinstance(consumers, Exception)
            for consumer in consumers
            if int(consumer.get("pending", 0)) == 0 and int(consumer.get("idle", 0)) > idle_ms
        ]
        if doomed:
            async with self.client.pipeline(transaction=False) as pipe:
                for stream, group, name in doomed:
                    pipe.xgroup_delconsumer(stream, group, name)
                await pipe.execute(raise_on_error=False)
        return len(doomed)

    # -- judge side ---------------------------------------------------------------------

    async def read_results(
        self, consumer: str, tenants: Sequence[str], count: int, block_ms: int
    ) -> list[Delivery[Result]]:
        """XREADGROUP new results from every tenant stream in one call."""
        streams = {self.keys.tenant(t).results: t for t in tenants}
        return await self._read(streams, JUDGE_GROUP, consumer, count, block_ms, Result)

    async def read_own_pending(
        self, consumer: str, tenants: Sequence[str], count: int
    ) -> list[Delivery[Result]]:
        """Re-read results this consumer was given but never acked (history, id ``0``)."""
        streams = {self.keys.tenant(t).results: t for t in tenants}
        return await self._read(streams, JUDGE_GROUP, consumer, count, None, Result, start="0")

    async def claim_stale_results(
        self, consumer: str, tenants: Sequence[str], min_idle_ms: int, count: int
    ) -> list[Delivery[Result]]:
        """XAUTOCLAIM results another Judge left pending past ``min_idle_ms``."""
        streams = {self.keys.tenant(t).results: t for t in tenants}
        return await self._autoclaim(streams, JUDGE_GROUP, consumer, min_idle_ms, count, Result)

    # -- status -------------------------------------------------------------------------

    async def stats(self, tenant: str) -> TenantStats:
        """Stream lengths, pending counts, consumers and lag of one tenant; one round trip."""
        keys = self.keys.tenant(tenant)
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.xinfo_groups(keys.tasks)
            pipe.xlen(keys.tasks)
            pipe.xinfo_groups(keys.results)
            pipe.xlen(keys.results)
            pipe.zcard(keys.delayed)
            pipe.hlen(keys.review)
            pipe.xlen(keys.dlq)
            pipe.hlen(keys.committed)
            pipe.hget(keys.quota, QUOTA_THROTTLED)
            pipe.hget(keys.usage, utc_now().date().isoformat())
            replies = await pipe.execute(raise_on_error=False)
        for reply in replies:
            # A missing stream's XINFO error reads as zeros; a refusal must not (NOPERM).
            if isinstance(reply, NoPermissionError):
                raise reply
        task_groups, task_len, result_groups, result_len, delayed, review, dlq, committed = replies[
            :8
        ]
        throttled, tokens_today = replies[8:]
        return TenantStats(
            tenant=tenant,
            tasks=_stream_stats(task_groups, task_len, WORKER_GROUP),
            results=_stream_stats(result_groups, result_len, JUDGE_GROUP),
            delayed=_int(delayed),
            review=_int(review),
            dead_lettered=_int(dlq),
            committed=_int(committed),
            throttled=throttled if isinstance(throttled, str) else None,
            tokens_today=_int(tokens_today),
        )

    # -- shared -------------------------------------------------------------------------

    async def _read(
        self,
        streams: dict[str, str],
        group: str,
        consumer: str,
        count: int,
        block_ms: int | None,
        model: type[M],
        start: str = ">",
    ) -> list[Delivery[M]]:
        if not streams or count <= 0:
            return []
        await self.ensure_groups(sorted(set(streams.values())))
        per_stream = max(1, math.ceil(count / len(streams)))
        began = time.monotonic()
        try:
            if self._per_slot:
                replies = await self._read_per_slot(
                    streams, group, consumer, per_stream, block_ms, start
                )
            else:
                # Undecoded: one entry that is not UTF-8 must not fail the read of all others.
                replies = [
                    await _undecoded(
                        self.client,
                        "XREADGROUP",
                        "GROUP",
                        group,
                        consumer,
                        "COUNT",
                        per_stream,
                        *(("BLOCK", block_ms) if block_ms is not None else ()),
                        "STREAMS",
                        *streams,
                        *([start] * len(streams)),
                    )
                ]
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # The stream or group vanished (deleted, FLUSHALL, failover to an empty
            # replica): recreate it and let the next read pick up from there.
            self._groups_ready.difference_update(streams)
            await self.ensure_groups(sorted(set(streams.values())))
            return []
        if not any(replies) and block_ms and not self._per_slot:
            # The embedded server (fakeredis) does not block; wait a little ourselves so an
            # idle consumer neither spins nor starves the event loop.
            left = block_ms / 1000.0 - (time.monotonic() - began)
            if left > 0:
                await asyncio.sleep(min(left, _EMBEDDED_IDLE_S))
        out: list[Delivery[M]] = []
        pairs = (pair for reply in replies for pair in _stream_items(reply))
        for stream, entries in pairs:
            tenant = streams[stream]
            for entry_id, fields in entries:
                if fields is None:  # deleted while pending: nothing left to deliver
                    continue
                deliveries = 1 if start == ">" else 2
                out.append(decode_entry(model, tenant, entry_id, fields, deliveries, self.decoded))
        return out

    async def _read_per_slot(
        self,
        streams: dict[str, str],
        group: str,
        consumer: str,
        per_stream: int,
        block_ms: int | None,
        start: str,
    ) -> list[Any]:
        """``XREADGROUP`` one slot at a time (a cluster); waits per slot when none has news."""
        replies = await read_group(self.client, group, consumer, per_stream, list(streams), start)
        if any(replies) or not block_ms or start != ">":
            return replies
        after = await last_delivered(self.client, list(streams), group)
        await wait_any(self.client, after, block_ms)
        return await read_group(self.client, group, consumer, per_stream, list(streams), start)

    async def _autoclaim(
        self,
        streams: dict[str, str],
        group: str,
        consumer: str,
        min_idle_ms: int,
        count: int,
        model: type[M],
    ) -> list[Delivery[M]]:
        await self.ensure_groups(sorted(set(streams.values())))
        claimed: list[Delivery[M]] = []
        for stream, tenant in streams.items():
            cursor = "0-0"
            entries: list[tuple[str, Any]] = []
            while len(entries) < count:
                reply = await _undecoded(
                    self.client,
                    "XAUTOCLAIM",
                    stream,
                    group,
                    consumer,
                    min_idle_ms,
                    cursor,
                    "COUNT",
                    min(_AUTOCLAIM_PAGE, count - len(entries)),
                )
                # Redis 7 adds a third element: ids that were pending but deleted from the
                # stream. XAUTOCLAIM has already dropped them from the PEL; nothing to run.
                cursor, page = _text(reply[0]), reply[1]
                entries.extend((_text(i), f) for i, f in page if f is not None)
                if cursor == "0-0":
                    break
            if not entries:
                continue
            counts = await self._delivery_counts(stream, group, [i for i, _ in entries])
            for entry_id, fields in entries:
                deliveries = counts.get(entry_id, 1)
                claimed.append(decode_entry(model, tenant, entry_id, fields, deliveries))
        return claimed

    async def _delivery_counts(self, stream: str, group: str, ids: list[str]) -> dict[str, int]:
        async with self.client.pipeline(transaction=False) as pipe:
            for entry_id in ids:
                pipe.xpending_range(stream, group, min=entry_id, max=entry_id, count=1)
            replies = await pipe.execute()
        return {
            str(rows[0]["message_id"]): int(rows[0]["times_delivered"]) for rows in replies if rows
        }


def _task(delivery: Delivery[Task]) -> Task:
    assert delivery.message is not None
    return delivery.message


def _body(delivery: Delivery[Task]) -> str:
    """The entry's body as stored (what its ledger row must be)."""
    return delivery.raw or _task(delivery).model_dump_json()


async def _undecoded(client: aioredis.Redis, *args: Any) -> Any:
    """Run one command and return its reply as bytes, whatever the client decodes."""
    run = cast("Callable[..., Awaitable[Any]]", client.execute_command)
    return await run(*args, **{NEVER_DECODE: []})


def _stream_items(reply: Any) -> Iterable[tuple[str, list[tuple[bytes, Any]]]]:
    # RESP2 gives a list of [stream, entries]; RESP3 gives a dict. Accept both. Read
    # undecoded, the stream names are bytes: they are our own ASCII key names.
    if isinstance(reply, dict):
        return ((_text(k), v[0] if v and isinstance(v[0], list) else v) for k, v in reply.items())
    return ((_text(k), v) for k, v in (reply or []))


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | str) else 0


def _stream_stats(groups: Any, length: Any, group: str) -> StreamStats:
    if isinstance(groups, Exception):
        return StreamStats(length=0, pending=0, consumers=0, lag=0)
    for info in groups:
        if str(info.get("name")) == group:
            lag = info.get("lag")
            return StreamStats(
                length=_int(length),
                pending=int(info.get("pending", 0)),
                consumers=int(info.get("consumers", 0)),
                lag=int(lag) if lag is not None else None,
            )
    return StreamStats(length=_int(length), pending=0, consumers=0, lag=None)


def _pending(event: AuditEvent | None) -> PendingEvent:
    return (event.id, event.model_dump_json()) if event is not None else None
