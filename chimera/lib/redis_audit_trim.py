"""Trimming a tenant's audit trail behind a checkpoint, so what is kept still verifies.

The oldest records go in one atomic step (``trim_audit.lua``) that also appends a
``checkpoint`` record to the chain, carrying the ``seq`` and ``hash`` of the last record
removed, and keeps the same two in the tenant's checkpoint hash. The verifier
(:func:`chimera.lib.records.audit_record.check`) starts from the checkpoint hash: the
oldest record kept must link to it, and the newest ``checkpoint`` record of the chain must
repeat it. A trim without a checkpoint, a checkpoint hash edited, or a record altered after
it: each breaks the chain where it is.

Which records may go: older than the policy allows, and none a writer could still write
again. An event id is stored once (the ids hash); once its record is trimmed, its id is
forgotten with it, so an event written a second time would be stored a second time. Events
are written again only about work still under way: a task's stream entry still pending or
undelivered, a live task (one with a ledger row, in review or waiting to retry), or an event
still waiting in the pending-audit hash. The trim therefore stops before the first record
written after the oldest such work began (less a margin for clocks that disagree), and
before any record whose event is still pending.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import redis.asyncio as aioredis

from chimera.lib.fields import AUDIT_EVENT, AUDIT_HASH, AUDIT_SEQ
from chimera.lib.keys import Keyspace, TenantKeys
from chimera.lib.lua.retention_scripts import ScanIds, TrimAudit
from chimera.lib.records import audit_record
from chimera.lib.redis_lua import LuaBatch
from chimera.lib.ulid_time import prefix_time
from chimera.models.audit import GENESIS_HASH, AuditEvent, AuditEventType
from chimera.models.retention import Keep

#: Records removed per checkpoint (each trim step sends their event ids to Redis).
BATCH = 5000
#: How far apart the clocks of the processes writing a tenant's events may be (NTP keeps
#: them within milliseconds; a larger gap risks an event stored twice, never a commit).
CLOCK_SKEW_S = 30.0
_PAGE = 1000
_CAS_ROUNDS = 20


@dataclass(frozen=True)
class _Trimmable:
    entry_id: str
    seq: int
    hash: str
    event_id: str


class AuditTrimmer:
    """Trims the ``redis`` audit sink's streams (see the module docstring)."""

    def __init__(self, client: aioredis.Redis, keyspace: Keyspace) -> None:
        self.client = client
        self.keys = keyspace
        self._lua = LuaBatch(client)

    async def trim(
        self,
        tenant: str,
        keep: Keep,
        now: float,
        horizon_ms: int | None,
        dry_run: bool,
        actor: str,
    ) -> int:
        """Trim ``tenant``'s audit stream to ``keep``; return how many records went.

        Args:
            tenant: whose trail.
            keep: the policy.
            now: the current time (epoch seconds).
            horizon_ms: when the oldest work still under way began (see the module
                docstring); None when nothing is.
            dry_run: count only.
            actor: who trims, as the checkpoint record names it.
        """
        if keep.keeps_all:
            return 0
        keys = self.keys.tenant(tenant)
        head_seq = int(await self.client.hget(keys.audit_head, AUDIT_SEQ) or 0)
        last_seq = head_seq - keep.max_count if keep.max_count is not None else head_seq
        cutoff = now - keep.max_age if keep.max_age is not None else math.inf
        if horizon_ms is not None:
            cutoff = min(cutoff, horizon_ms / 1000 - CLOCK_SKEW_S)
        trimmable = await self._trimmable(keys, last_seq, cutoff)
        if dry_run:
            return len(trimmable)
        removed = 0
        for start in range(0, len(trimmable), BATCH):
            batch = trimmable[start : start + BATCH]
            if not await self._trim_batch(keys, tenant, batch, actor):
                break
            removed += len(batch)
        return removed

    async def _trimmable(self, keys: TenantKeys, last_seq: int, cutoff: float) -> list[_Trimmable]:
        """The oldest records, in order, up to the first one that must stay."""
        found: list[_Trimmable] = []
        start = "-"
        while True:
            page = cast(
                "list[tuple[str, dict[str, str]]]",
                await self.client.xrange(keys.audit, min=start, count=_PAGE),
            )
            candidates: list[_Trimmable] = []
            for entry_id, fields in page:
                seq = int(fields[AUDIT_SEQ])
                event = json.loads(fields[AUDIT_EVENT])
                if seq > last_seq or datetime.fromisoformat(event["at"]).timestamp() >= cutoff:
                    break
                candidates.append(_Trimmable(entry_id, seq, fields[AUDIT_HASH], event["id"]))
            if candidates:
                pending = await self.client.hmget(
                    keys.audit_pending, [c.event_id for c in candidates]
                )
                for candidate, waiting in zip(candidates, pending, strict=True):
                    if waiting is not None:
                        return found
                    found.append(candidate)
            if len(candidates) < len(page) or len(page) < _PAGE:
                return found
            start = f"({page[-1][0]}"

    async def _trim_batch(
        self, keys: TenantKeys, tenant: str, batch: list[_Trimmable], actor: str
    ) -> bool:
        """Trim through the last record of ``batch`` behind a new checkpoint record."""
        through = batch[-1]
        event = AuditEvent(
            type=AuditEventType.CHECKPOINT,
            tenant=tenant,
            actor=actor,
            data={
                "seq": through.seq,
                "hash": through.hash,
                "first_seq": batch[0].seq,
                "trimmed": len(batch),
            },
        )
        body = event.model_dump_json()
        head = cast("dict[str, str]", await self.client.hgetall(keys.audit_head))
        seq, prev = int(head.get(AUDIT_SEQ, 0)), head.get(AUDIT_HASH) or GENESIS_HASH
        script = TrimAudit.of(keys)
        for _ in range(_CAS_ROUNDS):
            (link,) = audit_record.chain(seq, prev, [(event.id, body)])
            reply = await self._lua.run_one(
                script.call(
                    expected_seq=seq,
                    through_entry=through.entry_id,
                    through_seq=through.seq,
                    through_hash=through.hash,
                    checkpoint=link,
                    trimmed_ids=[record.event_id for record in batch],
                )
            )
            if reply.appended:
                return True
            if reply.status != 0:
                return False  # trimmed meanwhile, or an event waits: the next sweep sees
            seq, prev = reply.head_seq, reply.head_hash or GENESIS_HASH
        return False


async def oldest_live_ms(client: aioredis.Redis, keys: TenantKeys) -> int | None:
    """When the oldest work of a tenant still under way began, in epoch milliseconds.

    The oldest of: the first entry of the task and result streams (acknowledged entries are
    deleted, so what remains is pending or undelivered), and the oldest live task (the
    ledger holds every task not yet settled, in review and waiting to retry included; its
    ids are ULIDs, whose time is when the task was submitted).
    """
    times: list[int] = []
    for stream in (keys.tasks, keys.results):
        first = await client.xrange(stream, count=1)
        if first:
            times.append(int(str(first[0][0]).partition("-")[0]))
    lua = LuaBatch(client)
    cursor = "0"
    while True:
        step = await lua.run_one(ScanIds(records=keys.ledger).call(cursor=cursor, count=_PAGE))
        if step.prefixes:
            times.append(int(prefix_time(min(step.prefixes)) * 1000))
        cursor = step.cursor
        if cursor == "0":
            return min(times) if times else None
