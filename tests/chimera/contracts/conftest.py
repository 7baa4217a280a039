"""The ``backend`` fixture: every contract test runs on the in-memory fakes, on the Redis
adapters over fakeredis, and on the Redis adapters over a real Redis server."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from chimera.lib.keys import Keyspace
from tests.chimera.contracts.backends import Backend, memory_backend, redis_backend
from tests.conftest import REDIS_BACKENDS


@pytest.fixture(params=["memory", *REDIS_BACKENDS])
def backend(request: pytest.FixtureRequest, keyspace: Keyspace) -> Backend:
    if request.param == "memory":
        return memory_backend()
    fixture = {"fakeredis": "fake_redis", "redis": "real_redis", "cluster": "cluster_redis"}
    client: aioredis.Redis = request.getfixturevalue(fixture[request.param])
    return redis_backend(request.param, client, keyspace)
