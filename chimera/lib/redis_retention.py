"""Retention in Redis: trimming each stored kind of a tenant to its policy, and the sweep lease.

Every trim goes through a check that keeps what is still needed: a committed Result or
settled mark of a live task (it has a ledger row), a session with tasks still running or in
review, a stream entry some consumer group has not acknowledged. The audit trail has its
own module (:mod:`chimera.lib.redis_audit_trim`). See ``docs/retention.md``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import redis.asyncio as aioredis

from chimera.lib.fields import SESSION_CREATED_AT
from chimera.lib.keys import Keyspace
from chimera.lib.lua.retention_scripts import (
    CountBefore,
    RetentionLease,
    ScanIds,
    ScanStep,
    TrimCommitted,
    TrimSession,
    TrimSettled,
)
from chimera.lib.redis_audit_trim import AuditTrimmer, oldest_live_ms
from chimera.lib.redis_lua import Call, LuaBatch
from chimera.lib.ulid_time import time_prefix
from chimera.models.retention import Keep

#: Fields per scan step: big enough to be few round trips, small enough to block Redis briefly.
_STEP = 1000


class RedisRetention:
    """Implements :class:`~chimera.ports.retention.RetentionStore` on a tenant's keys."""

    def __init__(self, client: aioredis.Redis, keyspace: Keyspace | None = None) -> None:
        self.client = client
        self.keys = keyspace or Keyspace()
        self._lua = LuaBatch(client)
        self._audit = AuditTrimmer(client, self.keys)

    # -- the lease ------------------------------------------------------------------------

    async def acquire(self, tenant: str, owner: str, ttl_s: float) -> bool:
        """Take the lease on sweeping ``tenant`` for ``ttl_s`` unless someone holds it."""
        key = self.keys.tenant(tenant).retention_lock
        return bool(await self.client.set(key, owner, nx=True, px=_ms(ttl_s)))

    async def renew(self, tenant: str, owner: str, ttl_s: float) -> bool:
        """Extend our lease to ``ttl_s`` from now; False when it is no longer ours."""
        lock = self.keys.tenant(tenant).retention_lock
        call = RetentionLease(retention_lock=lock).call(owner=owner, ttl_ms=_ms(ttl_s))
        return await self._lua.run_one(call)

    async def release(self, tenant: str, owner: str) -> None:
        """Give the lease up, if it is still ours."""
        lock = self.keys.tenant(tenant).retention_lock
        await self._lua.run_one(RetentionLease(retention_lock=lock).call(owner=owner, ttl_ms=0))

    async def due(self, tenant: str, every_s: float) -> bool:
        """Claim the next periodic sweep of ``tenant``: True at most once per ``every_s``.

        Kept apart from the lease so that ``chimera gc`` can sweep at any time.
        """
        key = self.keys.tenant(tenant).retention_due
        return bool(await self.client.set(key, "1", nx=True, px=_ms(every_s)))

    # -- kinds keyed by task id -----------------------------------------------------------

    async def trim_committed(self, tenant: str, keep: Keep, now: float, dry_run: bool) -> int:
        """Remove committed Results of tasks submitted before the policy's cutoff."""
        keys = self.keys.tenant(tenant)
        script = TrimCommitted.of(keys)
        before = await self._cutoff(keys.committed, keep, now)
        if before is None:
            return 0
        return await self._steps(
            lambda cursor: script.call(cursor=cursor, count=_STEP, before=before, dry_run=dry_run)
        )

    async def trim_settled(self, tenant: str, keep: Keep, now: float, dry_run: bool) -> int:
        """Remove settled marks (and cancellation records) of tasks submitted before the cutoff."""
        keys = self.keys.tenant(tenant)
        script = TrimSettled.of(keys)
        before = await self._cutoff(keys.settled, keep, now)
        if before is None:
            return 0
        return await self._steps(
            lambda cursor: script.call(cursor=cursor, count=_STEP, before=before, dry_run=dry_run)
        )

    async def _cutoff(self, key: str, keep: Keep, now: float) -> str | None:
        """The ULID time prefix below which ``keep`` lets go of a task id, or None for none."""
        cutoffs: list[str] = []
        if keep.max_age is not None:
            cutoffs.append(time_prefix(now - keep.max_age))
        if keep.max_count is not None:
            total = int(await self.client.hlen(key))
            if total > keep.max_count:
                prefixes = await self._prefixes(key)
                # Ids sharing the millisecond of the newest one kept are kept with it.
                cutoffs.append(prefixes[len(prefixes) - keep.max_count] if keep.max_count else "~")
        return max(cutoffs) if cutoffs else None

    async def _prefixes(self, key: str) -> list[str]:
        found: list[str] = []
        cursor = "0"
        while True:
            step = await self._lua.run_one(ScanIds(records=key).call(cursor=cursor, count=_STEP))
            found.extend(step.prefixes)
            cursor = step.cursor
            if cursor == "0":
                return sorted(found)

    async def _steps(self, call: Any) -> int:
        total, cursor = 0, "0"
        while True:
            step = await self._lua.run_one(cast("Call[ScanStep]", call(cursor)))
            total += step.removed
            cursor = step.cursor
            if cursor == "0":
                return total

    # -- sessions -------------------------------------------------------------------------

    async def trim_sessions(self, tenant: str, keep: Keep, now: float, dry_run: bool) -> int:
        """Forget finished sessions created before the cutoff, or beyond the newest count."""
        keys = self.keys.tenant(tenant)
        ids = sorted(cast("set[str]", await self.client.smembers(keys.sessions)))
        if not ids or keep.keeps_all:
            return 0
        async with self.client.pipeline(transaction=False) as pipe:
            for session in ids:
                pipe.hget(keys.session(session), SESSION_CREATED_AT)
            created = [_epoch(text) for text in await pipe.execute()]
        by_age = sorted(zip(created, ids, strict=True))
        candidates: set[str] = set()
        if keep.max_age is not None:
            cutoff = now - keep.max_age
            candidates.update(s for at, s in by_age if at < cutoff)
        if keep.max_count is not None and len(by_age) > keep.max_count:
            candidates.update(s for _, s in by_age[: len(by_age) - keep.max_count])
        if not candidates:
            return 0
        calls = [
            TrimSession.of(keys, s).call(session_id=s, dry_run=dry_run) for s in sorted(candidates)
        ]
        return sum(await self._lua.run(calls))

    # -- streams --------------------------------------------------------------------------

    async def trim_dead_letters(self, tenant: str, keep: Keep, now: float, dry_run: bool) -> int:
        """Remove dead letters written before the cutoff, or beyond the newest count."""
        dlq = self.keys.tenant(tenant).dlq
        cutoffs: list[str] = []
        if keep.max_age is not None:
            cutoffs.append(f"{_ms(now - keep.max_age)}-0")
        if keep.max_count is not None:
            total = int(await self.client.xlen(dlq))
            if total > keep.max_count:
                # The id of the oldest entry kept: the max_count-th from the end.
                newest = cast(
                    "list[tuple[str, Any]]",
                    await self.client.xrevrange(dlq, count=keep.max_count + 1),
                )
                cutoffs.append(str(newest[-2][0]) if keep.max_count else _after(newest[0][0]))
        if not cutoffs:
            return 0
        return await self._trim_stream(dlq, max(cutoffs, key=_id_key), dry_run)

    async def trim_acked(self, tenant: str, dry_run: bool) -> int:
        """Remove task and result entries every consumer group has acknowledged.

        An entry stays while any group has not been delivered it or still has it pending.
        """
        keys = self.keys.tenant(tenant)
        total = 0
        for stream in (keys.tasks, keys.results):
            safe = await self._acked_below(stream)
            if safe is not None:
                total += await self._trim_stream(stream, safe, dry_run)
        return total

    async def _acked_below(self, stream: str) -> str | None:
        """The lowest id some group still needs (pending, or not yet delivered)."""
        try:
            groups = await self.client.xinfo_groups(stream)
        except aioredis.ResponseError:
            return None  # no such stream yet
        if not groups:
            return None  # entries nobody reads yet are not ours to remove
        safe: list[str] = []
        for group in groups:
            safe.append(_after(str(group["last-delivered-id"])))
            if int(group["pending"]):
                summary = await self.client.xpending(stream, group["name"])
                safe.append(str(summary["min"]))
        return min(safe, key=_id_key)

    async def _trim_stream(self, stream: str, below: str, dry_run: bool) -> int:
        if dry_run:
            return await self._lua.run_one(CountBefore(stream=stream).call(before=below))
        return int(await self.client.xtrim(stream, minid=below, approximate=False))

    # -- audit ----------------------------------------------------------------------------

    async def trim_audit(
        self, tenant: str, keep: Keep, now: float, dry_run: bool, actor: str
    ) -> int:
        """Trim the audit trail behind a checkpoint record; see :class:`AuditTrimmer`."""
        horizon = await oldest_live_ms(self.client, self.keys.tenant(tenant))
        return await self._audit.trim(tenant, keep, now, horizon, dry_run, actor)


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def _epoch(text: str | None) -> float:
    """Seconds since the epoch of a stored ``created_at``; 0 (oldest) when unreadable."""
    if not text:
        return 0.0
    try:
        return datetime.fromisoformat(text).astimezone(UTC).timestamp()
    except ValueError:
        return 0.0


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _after(entry_id: str) -> str:
    """The smallest stream id above ``entry_id``."""
    ms, seq = _id_key(str(entry_id))
    return f"{ms}-{seq + 1}"
