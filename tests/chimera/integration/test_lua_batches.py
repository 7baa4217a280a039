"""Lua scripts are called by SHA; a server that forgot them (restart, SCRIPT FLUSH) is fed them
again and only the calls that failed are re-sent."""

from __future__ import annotations

import redis.asyncio as aioredis

from chimera.lib.keys import Keyspace
from chimera.lib.redis_lua import Call, Lua, LuaBatch
from chimera.lib.redis_queue import RedisQueue
from chimera.models.task import Task

INCR_BY_ARG = Lua("return redis.call('INCRBY', KEYS[1], ARGV[1])")


async def test_noscript_reloads_and_resends_once(
    real_redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    batch = LuaBatch(real_redis)
    key = f"{keyspace.prefix}:counter"
    assert await batch.run([Call(INCR_BY_ARG, [key], [2])]) == [2]
    await real_redis.script_flush()
    # The batch still believes the script is loaded: the server answers NOSCRIPT, the batch
    # loads it and re-sends; the counter moves once per call, not twice.
    assert await batch.run([Call(INCR_BY_ARG, [key], [3]), Call(INCR_BY_ARG, [key], [4])]) == [5, 9]
    assert int(await real_redis.get(key)) == 9


async def test_queue_survives_a_script_flush(
    real_redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    queue = RedisQueue(real_redis, keyspace)
    task = Task(tenant="acme", session="s1", skill="x", input={})
    await queue.enqueue([task])
    await real_redis.script_flush()
    await queue.enqueue([Task(tenant="acme", session="s1", skill="x", input={})])
    assert await real_redis.xlen(keyspace.tenant("acme").tasks) == 2
