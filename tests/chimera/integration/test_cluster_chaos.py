"""Chaos on a real Redis Cluster: workers SIGKILLed, and tenant slots moved mid-run.

The crash test of ``test_crash_recovery`` runs unchanged on the cluster with its tenants on
three masters. Then two tenants' slots move while tasks run: one with
``redis-cli --cluster reshard``, one key by key (``CLUSTER SETSLOT`` + ``MIGRATE``, with
pauses) so the run meets ``ASK`` and ``TRYAGAIN`` as well as ``MOVED``. Either way nothing
is lost, nothing is committed twice and every audit chain verifies.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import time
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from chimera.lib.keys import Keyspace
from chimera.lib.redis_cluster import slot_of
from tests.chimera.cluster_support import HOST, masters, tenants_on_every_master
from tests.chimera.integration.test_cluster_processes import first_port, spread_tenants
from tests.chimera.integration.test_crash_recovery import (
    Fleet,
    check_complete_audit,
    check_invariants,
    outcomes,
    sigkill_chaos,
    submit,
    wait_settled,
    write_swarm,
)

pytestmark = [pytest.mark.redis, pytest.mark.slow]


async def test_random_sigkills_on_the_cluster(
    cluster_redis: aioredis.Redis, cluster_url: str, keyspace: Keyspace, tmp_path: Path
) -> None:
    tenants = spread_tenants(cluster_url)
    await sigkill_chaos(
        cluster_redis,
        keyspace,
        tmp_path,
        cluster_url,
        tenants,
        tasks=1000,
        only_running=True,
        max_kills=15,
    )


def _redirects(ports: list[int]) -> dict[str, int]:
    """How many MOVED, ASK and TRYAGAIN replies the masters have sent (``INFO errorstats``)."""
    counts = dict.fromkeys(("MOVED", "ASK", "TRYAGAIN"), 0)
    for port in ports:
        info = subprocess.run(
            ["redis-cli", "-p", str(port), "INFO", "errorstats"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for line in info.splitlines():
            for kind in counts:
                if line.startswith(f"errorstat_{kind}:"):
                    counts[kind] += int(line.split("count=")[1].split(",")[0])
    return counts


def _cli(port: int, *args: str) -> str:
    return subprocess.run(
        ["redis-cli", "-p", str(port), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def _owner(port: int, slot: int) -> int:
    for node_port, slots in masters(port).values():
        if slot in slots:
            return node_port
    raise AssertionError(f"slot {slot} has no owner")


def reshard_lowest_slot(seed_port: int, source: int, target: int) -> None:
    """``redis-cli --cluster reshard`` of one slot: the lowest ``source`` serves."""
    ids = {port: node for node, (port, _) in masters(seed_port).items()}
    subprocess.run(
        ["redis-cli", "--cluster", "reshard", f"{HOST}:{seed_port}",
         "--cluster-from", ids[source], "--cluster-to", ids[target],
         "--cluster-slots", "1", "--cluster-yes", "--cluster-pipeline", "2"],
        check=True,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip


def migrate_slowly(slot: int, source: int, target: int, pause_s: float = 0.05) -> int:
    """Move ``slot`` one key at a time, pausing between keys; return how many moved.

    While the slot is half moved, commands on keys already gone get ``ASK`` and scripts
    whose keys are split get ``TRYAGAIN``: what a client must ride out.
    """
    ids = {port: node for node, (port, _) in masters(source).items()}
    _cli(target, "CLUSTER", "SETSLOT", str(slot), "IMPORTING", ids[source])
    _cli(source, "CLUSTER", "SETSLOT", str(slot), "MIGRATING", ids[target])
    moved = 0
    while keys := _cli(source, "CLUSTER", "GETKEYSINSLOT", str(slot), "1").split():
        _cli(source, "MIGRATE", HOST, str(target), "", "0", "5000", "KEYS", *keys)
        moved += len(keys)
        time.sleep(pause_s)
    for port in ids:
        _cli(port, "CLUSTER", "SETSLOT", str(slot), "NODE", ids[target])
    return moved


async def test_slots_moving_mid_run_lose_and_duplicate_nothing(
    cluster_redis: aioredis.Redis, cluster_url: str, keyspace: Keyspace, tmp_path: Path
) -> None:
    seed = first_port(cluster_url)
    placed = tenants_on_every_master(seed)
    tenants = tuple(placed)
    ports = sorted(set(placed.values()))
    assert len(ports) == 3
    (resharded, by_tool), (migrated, by_hand) = list(placed.items())[:2]
    rng = random.Random(7)
    swarm = write_swarm(tmp_path, tenants=tenants)
    fleet = Fleet(swarm, keyspace.prefix, tmp_path, size=2, concurrency=20, url=cluster_url)
    before = _redirects(ports)
    try:
        rows = [
            {"tenant": rng.choice(tenants), "skill": "work", "input": {"n": i}} for i in range(1500)
        ]
        ids = await submit(swarm, keyspace.prefix, tmp_path, rows, cluster_url)
        # Move the slots once the run is well under way, while most tasks still wait.
        await _until_settled(cluster_redis, keyspace, tenants, 150)
        others = [p for p in ports if p != by_tool]
        await asyncio.to_thread(reshard_lowest_slot, seed, by_tool, others[0])
        target = next(p for p in ports if p != by_hand)
        moved = await asyncio.to_thread(migrate_slowly, slot_of(f"{{{migrated}}}"), by_hand, target)
        done_when_moved = len(await outcomes(cluster_redis, keyspace, tenants))
        settled = await wait_settled(cluster_redis, keyspace, ids, fleet, 240, None, tenants)
        await asyncio.sleep(0.5)
    finally:
        codes = fleet.stop()
    assert codes == [0, 0]
    assert _owner(seed, slot_of(f"{{{resharded}}}")) == others[0]
    assert _owner(seed, slot_of(f"{{{migrated}}}")) == target
    assert moved > 5  # the tenant's streams, ledger, audit... went one by one
    assert done_when_moved < len(ids)  # the slots really moved in the middle of the run
    after = _redirects(ports)
    assert after["MOVED"] > before["MOVED"]
    assert after["ASK"] + after["TRYAGAIN"] > before["ASK"] + before["TRYAGAIN"]
    totals = await check_invariants(cluster_redis, keyspace, ids, settled, tenants)
    assert totals["committed"] + totals["dead_lettered"] == len(ids)
    assert totals["dead_lettered"] == 0
    await check_complete_audit(cluster_redis, keyspace, settled, tenants)


async def _until_settled(
    client: aioredis.Redis, keyspace: Keyspace, tenants: tuple[str, ...], count: int
) -> None:
    """Wait until ``count`` tasks have an outcome."""
    settled = 0
    while settled < count:
        await asyncio.sleep(0.05)
        settled = len(await outcomes(client, keyspace, tenants))
