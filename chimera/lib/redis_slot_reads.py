"""Reading several tenants' streams from a Redis Cluster, one hash slot at a time.

A cluster refuses a command whose keys live in different slots (``CROSSSLOT``), and each
tenant has its own slot: the multi-stream ``XREADGROUP`` and ``XREAD`` that serve every
tenant in one call on a single Redis are split here into one call per slot, sent
concurrently (each to the master that holds the slot). A single Redis keeps the one call.

Waiting is split the same way: one ``XREAD BLOCK`` per slot, and the first to answer ends
the wait; the others are cancelled, which costs their connections (redis-py drops a
connection whose reply it did not read). That happens only when a reader was idle.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, cast

import redis.asyncio as aioredis
from redis.client import NEVER_DECODE

from chimera.lib.redis_cluster import by_slot, node_of


async def read_group(
    client: aioredis.Redis,
    group: str,
    consumer: str,
    per_stream: int,
    streams: Sequence[str],
    start: str,
) -> list[Any]:
    """Non-blocking ``XREADGROUP`` of ``streams``, one call per slot, all at once.

    Entries are read undecoded (see :mod:`chimera.lib.redis_queue`). Returns each slot's
    reply as the server gave it.
    """
    groups = by_slot(streams)
    nodes = [await node_of(client, keys[0]) for keys in groups]
    return await asyncio.gather(
        *(
            _undecoded(
                client,
                "XREADGROUP",
                "GROUP",
                group,
                consumer,
                "COUNT",
                per_stream,
                "STREAMS",
                *keys,
                *([start] * len(keys)),
                target_nodes=node,
            )
            for keys, node in zip(groups, nodes, strict=True)
        )
    )


async def last_delivered(
    client: aioredis.Redis, streams: Sequence[str], group: str
) -> dict[str, str]:
    """The id ``group`` last delivered on each stream (``XINFO GROUPS``; ``0-0`` if none).

    A reader that found nothing new waits for entries after these ids: one added after
    the read and before this call is after them too, so no entry slips past the wait.
    """
    infos = await asyncio.gather(
        *(client.xinfo_groups(stream) for stream in streams), return_exceptions=True
    )
    ids: dict[str, str] = {}
    for stream, info in zip(streams, infos, strict=True):
        ids[stream] = "0-0"
        if isinstance(info, BaseException):
            continue  # no stream or group yet: any entry is new
        for row in info:
            if str(row.get("name")) == group:
                ids[stream] = str(row.get("last-delivered-id") or "0-0")
    return ids


async def wait_any(client: aioredis.Redis, after: Mapping[str, str], block_ms: int) -> None:
    """Wait until a stream has an entry after its id in ``after``, or ``block_ms`` passed.

    One ``XREAD BLOCK`` per slot; the first that answers ends the wait (what it read is
    not used: the reader reads again through its group).
    """
    groups = by_slot(after)
    nodes = [await node_of(client, keys[0]) for keys in groups]
    run = cast("Callable[..., Awaitable[Any]]", client.execute_command)
    waits = [
        asyncio.ensure_future(
            run(
                "XREAD",
                "COUNT",
                1,
                "BLOCK",
                max(1, block_ms),
                "STREAMS",
                *keys,
                *(after[key] for key in keys),
                target_nodes=node,
            )
        )
        for keys, node in zip(groups, nodes, strict=True)
    ]
    try:
        done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for wait in done:
            wait.result()  # a fault of the wait is the reader's to handle
    finally:
        for wait in waits:
            wait.cancel()
        await asyncio.gather(*waits, return_exceptions=True)


async def _undecoded(client: aioredis.Redis, *args: Any, **options: Any) -> Any:
    run = cast("Callable[..., Awaitable[Any]]", client.execute_command)
    return await run(*args, **options, **{NEVER_DECODE: []})
