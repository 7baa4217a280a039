"""Heartbeats of live processes, the recent task ends they report, and what status makes of them."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import redis.asyncio as aioredis

from chimera.config.fingerprint import swarm_fingerprint
from chimera.lib.keys import Keyspace
from chimera.lib.redis_presence import RedisPresenceStore
from chimera.lib.redis_queue import RedisQueue
from chimera.lib.redis_sessions import RedisSessionStore
from chimera.models.types import utc_now
from chimera.services.presence import Heartbeats, ProcessInfo, RecentEnds
from chimera.services.status import SwarmStatus
from chimera.services.tenants import TenantScope
from tests.chimera.helpers import write_swarm


def info(consumer: str = "worker-a", roles: tuple[str, ...] = ("worker", "judge")) -> ProcessInfo:
    return ProcessInfo(
        consumer=consumer,
        roles=list(roles),  # type: ignore[arg-type]
        host="box",
        pid=42,
        version="9.9",
        concurrency=50,
        fingerprint="abc123abc123",
        started_at=utc_now(),
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_recent_ends_give_rate_and_p95_over_the_window() -> None:
    clock = Clock()
    ends = RecentEnds(window_s=60, clock=clock)
    clock.now += 100  # the process has run longer than the window
    for i in range(1, 101):
        ends.task_settled("acme", "s", "committed", i / 1000)  # 1 ms .. 100 ms
    figures = ends.throughput("acme")
    assert figures.settled == 100
    assert figures.p95_ms == 95.0
    assert figures.rate == 100 / 60
    clock.now += 61  # all of them drop out of the window
    later = ends.throughput("acme")
    assert later.settled == 0
    assert later.p95_ms is None
    assert ends.throughput("globex").settled == 0


def test_a_young_process_measures_its_rate_over_its_own_life() -> None:
    clock = Clock()
    ends = RecentEnds(window_s=60, clock=clock)
    clock.now += 10
    for _ in range(20):
        ends.task_settled("acme", "s", "committed", 0.01)
    assert ends.throughput("acme").rate == 2.0


async def test_heartbeats_are_live_until_their_ttl_then_pruned(
    redis_client: aioredis.Redis, keyspace: Keyspace
) -> None:
    store = RedisPresenceStore(redis_client, keyspace)
    beats = Heartbeats(store, info(), ["acme", "globex"], lambda: 7, RecentEnds(), every_s=1)
    await beats.beat()
    now = utc_now()
    [acme] = await store.live("acme", now)
    assert (acme.consumer, acme.in_flight, acme.tenants) == ("worker-a", 7, ["acme", "globex"])
    assert acme.throughput is not None
    assert [b.consumer for b in await store.live("globex", now)] == ["worker-a"]
    assert await store.live("acme", now + timedelta(seconds=3.1)) == []  # three beats missed
    assert await store.prune("acme", now) == 0  # not expired yet
    assert await store.prune("acme", now + timedelta(seconds=10)) == 1
    assert await redis_client.hlen(keyspace.tenant("acme").heartbeats) == 0
    assert await redis_client.hlen(keyspace.tenant("globex").heartbeats) == 1


async def test_a_stopping_process_removes_its_records(
    redis_client: aioredis.Redis, keyspace: Keyspace
) -> None:
    store = RedisPresenceStore(redis_client, keyspace)
    other = Heartbeats(store, info("worker-b"), ["acme"], lambda: 0, every_s=5)
    await other.beat()
    beats = Heartbeats(store, info(), ["acme"], lambda: 0, every_s=0.05)
    stop = asyncio.Event()
    running = asyncio.create_task(beats.run(stop))
    for _ in range(100):
        if len(await store.live("acme", utc_now())) == 2:
            break
        await asyncio.sleep(0.01)
    assert beats.beats >= 1
    stop.set()
    await running
    assert [b.consumer for b in await store.live("acme", utc_now())] == ["worker-b"]
    ttl = await redis_client.pttl(keyspace.tenant("acme").heartbeats)
    assert 0 < ttl <= 5 * 3 * 4 * 1000  # the hash goes when nobody beats any more


async def test_a_record_this_version_cannot_read_is_not_counted_and_is_pruned(
    redis_client: aioredis.Redis, keyspace: Keyspace
) -> None:
    key = keyspace.tenant("acme").heartbeats
    await redis_client.hset(key, "old-process", '{"shape": "from another version"}')
    store = RedisPresenceStore(redis_client, keyspace)
    assert await store.live("acme", utc_now()) == []
    assert await store.prune("acme", utc_now()) == 1


async def test_status_counts_processes_by_heartbeat_and_sums_denials(
    tmp_path: Path, redis_client: aioredis.Redis, keyspace: Keyspace
) -> None:
    swarm = write_swarm(tmp_path)
    store = RedisPresenceStore(redis_client, keyspace)
    sessions = RedisSessionStore(redis_client, keyspace)
    ends = RecentEnds()
    ends.task_settled("acme", "echo", "committed", 0.2)
    await Heartbeats(store, info("w1", ("worker",)), ["acme"], lambda: 3, ends).beat()
    await Heartbeats(store, info("j1", ("judge",)), ["acme"], lambda: 0, ends).beat()
    both = Heartbeats(store, info("both"), ["acme", "globex"], lambda: 2, RecentEnds())
    await both.beat()
    for session, denied in (("s1", 2), ("s2", 3)):
        await sessions.open("acme", session)
        await redis_client.hset(keyspace.tenant("acme").session(session), "denied", denied)
    status = SwarmStatus(
        RedisQueue(redis_client, keyspace),
        TenantScope(swarm.tenants),
        access_denied=lambda exc: False,
        presence=store,
        sessions=sessions,
    )
    acme, globex = await status.tenants()
    assert (acme.role_count("worker"), acme.role_count("judge")) == (2, 2)
    assert acme.in_flight == 5
    assert acme.denied_tasks == 5
    assert acme.p95_ms == 200.0
    assert acme.rate is not None
    assert acme.rate > 0
    assert acme.fingerprints == ["abc123abc123"]
    assert (globex.role_count("worker"), globex.denied_tasks) == (1, 0)


def test_the_fingerprint_follows_the_configuration(tmp_path: Path) -> None:
    first = swarm_fingerprint(write_swarm(tmp_path / "a"))
    again = swarm_fingerprint(write_swarm(tmp_path / "b"))
    other = swarm_fingerprint(
        write_swarm(tmp_path / "c", judge={"policy": "threshold", "approve_at": 0.9})
    )
    assert first == again  # same settings in another folder
    assert first != other
    assert len(first) == 12
