"""Shared fixtures: a fakeredis client for unit tests, a real Redis for integration tests.

Real-Redis tests use their own key prefix and delete only their own keys. Where no Redis
answers they skip, unless ``CHIMERA_REQUIRE_REDIS=1`` (CI) makes that a failure. The same
holds for the Redis Cluster tests: at ``CHIMERA_TEST_CLUSTER_URL``, or a local three-master
cluster the session starts on loopback ports (:mod:`tests.chimera.cluster_support`).
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import AsyncIterator

import fakeredis
import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from chimera.lib.keys import Keyspace
from chimera.lib.redis_connect import connect
from tests.chimera.cluster_support import ClusterUnavailable, ensure_cluster

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


@pytest.fixture(scope="session")
def cluster_url() -> str:
    """The URL of a Redis Cluster to test against (started here when none is given)."""
    given = os.environ.get("CHIMERA_TEST_CLUSTER_URL")
    if given:
        return given
    try:
        return ensure_cluster()
    except (ClusterUnavailable, OSError, subprocess.CalledProcessError) as exc:
        message = f"no Redis Cluster ({exc}); set CHIMERA_TEST_CLUSTER_URL"
        if REQUIRE_REDIS:
            pytest.fail(f"CHIMERA_REQUIRE_REDIS=1 but {message}")
        pytest.skip(message)


@pytest.fixture
async def cluster_redis(cluster_url: str, keyspace: Keyspace) -> AsyncIterator[aioredis.Redis]:
    """A cluster client (as ``connect`` builds it); the test's keys are deleted after it."""
    client = connect(cluster_url)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        message = f"the Redis Cluster at {cluster_url} does not answer ({exc})"
        if REQUIRE_REDIS:
            pytest.fail(f"CHIMERA_REQUIRE_REDIS=1 but {message}")
        pytest.skip(message)
    yield client
    keys = [key async for key in client.scan_iter(match=f"{keyspace.prefix}:*", count=1000)]
    for key in keys:  # one by one: the keys of several tenants live in different slots
        await client.delete(key)
    await client.aclose()


REDIS_BACKENDS = [
    "fakeredis",
    pytest.param("redis", marks=pytest.mark.redis),
    pytest.param("cluster", marks=pytest.mark.redis),
]
_FIXTURE = {"fakeredis": "fake_redis", "redis": "real_redis", "cluster": "cluster_redis"}


@pytest.fixture(params=REDIS_BACKENDS)
def redis_client(request: pytest.FixtureRequest) -> aioredis.Redis:
    """The same test against fakeredis, the real server and a Redis Cluster."""
    client: aioredis.Redis = request.getfixturevalue(_FIXTURE[request.param])
    return client
