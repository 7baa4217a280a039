"""The ``backend`` fixture: every contract test runs on the in-memory fakes, on the Redis
adapters over fakeredis, and on the Redis adapters over a real Redis server."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from chimera.lib.keys import Keyspace
from tests.chimera.contracts.backends import Backend, memory_backend, redis_backend


@pytest.fixture(params=["memory", "fakeredis", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request: pytest.FixtureRequest, keyspace: Keyspace) -> Backend:
    if request.param == "memory":
        return memory_backend()
    fixture = "fake_redis" if request.param == "fakeredis" else "real_redis"
    client: aioredis.Redis = request.getfixturevalue(fixture)
    return redis_backend(request.param, client, keyspace)
