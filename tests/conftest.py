"""Shared fixtures: a fakeredis client for unit tests, a real Redis for integration tests.

Real-Redis tests use their own key prefix and delete only their own keys. Where no Redis
answers they skip, unless ``CHIMERA_REQUIRE_REDIS=1`` (CI) makes that a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import fakeredis
import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from chimera.lib.keys import Keyspace

REDIS_URL = os.environ.get("CHIMERA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE_REDIS = os.environ.get("CHIMERA_REQUIRE_REDIS", "") not in ("", "0")


@pytest.fixture
def keyspace() -> Keyspace:
    return Keyspace(prefix=f"chimera-test-{uuid.uuid4().hex[:10]}")


@pytest.fixture
async def fake_redis() -> AsyncIterator[aioredis.Redis]:
    client = fakeredis.FakeAsyncRedis(
        server=fakeredis.FakeServer(version=(7,)), decode_responses=True
    )
    yield client
    await client.aclose()


async def _delete_prefix(client: aioredis.Redis, prefix: str) -> None:
    batch: list[str] = []
    async for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        batch.append(key)
        if len(batch) >= 500:
            await client.delete(*batch)
            batch.clear()
    if batch:
        await client.delete(*batch)


@pytest.fixture
async def real_redis(keyspace: Keyspace) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(REDIS_URL, decode_responses=True)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        message = f"no Redis at {REDIS_URL} ({exc}); set CHIMERA_TEST_REDIS_URL"
        if REQUIRE_REDIS:
            pytest.fail(f"CHIMERA_REQUIRE_REDIS=1 but {message}")
        pytest.skip(message)
    yield client
    await _delete_prefix(client, keyspace.prefix)
    await client.aclose()


@pytest.fixture(params=["fakeredis", pytest.param("redis", marks=pytest.mark.redis)])
def redis_client(request: pytest.FixtureRequest) -> aioredis.Redis:
    """The same test against fakeredis and against the real server."""
    name = "fake_redis" if request.param == "fakeredis" else "real_redis"
    client: aioredis.Redis = request.getfixturevalue(name)
    return client
