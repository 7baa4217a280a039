"""What ``chimera task show`` costs on a long audit trail, and what the audit now keeps costs.

Prints numbers; it is a measurement, not a test. Needs a Redis (``--redis-url``, default
``redis://127.0.0.1:6379/0``); it writes under a prefix of its own and deletes it after.

1. A tenant's trail of ``--records`` audit records (five per task, as a committed task
   leaves) spread over the last 24 hours, then: reading the whole trail as ``chimera audit``
   does (the baseline), against one task's events through ``AuditTrail.task_events`` (pages
   of 1,000 from ten minutes before the task's ULID time, only entries naming the task
   parsed) for a task of today and one of 24 hours ago, and a whole story through
   ``TaskStories.show``.
2. Building a ``submitted`` audit event without and with the task's input (the one change
   on the submit path), in the same process.

Usage:

    uv run python benchmarks/task_story.py [--records N] [--redis-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import timeit
import uuid

import redis.asyncio as aioredis
from ulid import ULID

from chimera.lib.keys import Keyspace
from chimera.lib.records import audit_record
from chimera.lib.redis_audit import RedisAuditSink, RedisAuditTrail, read_chain
from chimera.lib.redis_stores import RedisDeadLetterStore, RedisReviewStore
from chimera.lib.redis_task_status import RedisTaskStatusStore
from chimera.models.audit import GENESIS_HASH, AuditEvent, AuditEventType
from chimera.models.task import Task
from chimera.models.types import new_id
from chimera.services import planner
from chimera.services.story.service import TaskStories
from chimera.services.tenants import TenantScope

KINDS = (
    AuditEventType.SUBMITTED,
    AuditEventType.STARTED,
    AuditEventType.DECISION,
    AuditEventType.COMMITTED,
    AuditEventType.TOOL_CALL,
)


async def trail(url: str, records: int) -> None:
    client = aioredis.Redis.from_url(url, decode_responses=True)
    keyspace = Keyspace(f"bench-story-{uuid.uuid4().hex[:8]}")
    try:
        # Yesterday's trail: entries spread over the last 24 hours (explicit stream ids).
        key = keyspace.tenant("acme").audit
        now_ms = int(time.time() * 1000)
        tasks = records // len(KINDS)
        step_ms = max(86_400_000 // max(records, 1), 1)
        old_ids: list[str] = []
        seq = 0
        async with client.pipeline(transaction=False) as pipe:
            for n in range(tasks):
                made_ms = now_ms - 86_400_000 + n * len(KINDS) * step_ms
                task_id = str(ULID.from_timestamp(made_ms / 1000))
                old_ids.append(task_id)
                events = [(f"{kind}:{task_id}", _event(kind, task_id)) for kind in KINDS]
                for offset, link in enumerate(audit_record.chain(seq, GENESIS_HASH, events)):
                    pipe.xadd(key, audit_record.encode(link), id=f"{made_ms + offset}-0")
                seq += len(KINDS)
                if len(pipe) >= 5000:
                    await pipe.execute()
            await pipe.execute()
        # A task of today, through the sink, at the end of the trail.
        recent = new_id()
        await RedisAuditSink(client, keyspace).write(
            [AuditEvent.model_validate_json(_event(kind, recent)) for kind in KINDS]
        )
        found_trail = RedisAuditTrail(client, keyspace)
        started = time.perf_counter()
        whole = await read_chain(client, keyspace, "acme", verify=False)
        full_s = time.perf_counter() - started
        print(f"trail of {len(whole.records):,} records ({tasks + 1:,} tasks over 24 hours)")
        print(f"  whole trail read and parsed (chimera audit):     {full_s * 1000:8.1f} ms")
        for label, target in (("today's task", recent), ("a task of 24 h ago", old_ids[0])):
            started = time.perf_counter()
            mine = await found_trail.task_events("acme", target)
            took = time.perf_counter() - started
            print(f"  {label}: its {len(mine)} events (task_events):".ljust(50), end="")
            print(f"{took * 1000:8.1f} ms")
        stories = TaskStories(
            RedisTaskStatusStore(client, keyspace),
            found_trail,
            RedisReviewStore(client, keyspace),
            RedisDeadLetterStore(client, keyspace),
            TenantScope(["acme"]),
        )
        started = time.perf_counter()
        story = await stories.show(recent)
        story_s = time.perf_counter() - started
        assert story is not None
        print(f"  today's task: its whole story (TaskStories.show): {story_s * 1000:8.1f} ms")
    finally:
        keys = [key async for key in client.scan_iter(match=f"{keyspace.prefix}:*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()


def _event(kind: AuditEventType, task_id: str) -> str:
    data = {"skill": "echo", "attempt": 1, "reason": "x" * 40}
    event = AuditEvent(
        id=f"{kind}:{task_id}", type=kind, tenant="acme", task_id=task_id, session="s", data=data
    )
    return event.model_dump_json()


def submitted_event_cost() -> None:
    task = Task(
        tenant="acme",
        session="s",
        skill="summarise",
        input={"customer": "Dana", "message": "I was charged twice for my March invoice."},
    )
    bare = task.model_copy(update={"input": {}})
    n = 20_000
    with_input = min(timeit.repeat(lambda: planner._submitted(task), number=n, repeat=5)) / n
    without = min(timeit.repeat(lambda: planner._submitted(bare), number=n, repeat=5)) / n
    print("submitted audit event, built per task (same process):")
    print(f"  empty input:             {without * 1e6:6.2f} us")
    print(f"  a two-field input kept:  {with_input * 1e6:6.2f} us")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    asyncio.run(trail(args.redis_url, args.records))
    submitted_event_cost()


if __name__ == "__main__":
    main()
