"""`chimera acl` users on a Redis Cluster: a tenant's user, created on every master, runs its
tenant's whole path through a cluster client, and is refused another tenant's keys."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis.exceptions import NoPermissionError

from chimera.lib.acl import tenant_user
from chimera.lib.keys import Keyspace
from chimera.lib.redis_cluster import parse_cluster_url
from chimera.lib.redis_connect import connect
from chimera.services.planner import Submission
from tests.chimera.helpers import FakeBackend, Running, eventually, write_swarm
from tests.chimera.stack import Stack

pytestmark = pytest.mark.redis


@pytest.fixture
async def tenant_url(cluster_url: str, keyspace: Keyspace) -> AsyncIterator[str]:
    """A ``redis+cluster://`` URL as ``acme``'s user, the user created on every master."""
    user = tenant_user("acme", keyspace.prefix)
    name, password = f"{user.name}-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    nodes = parse_cluster_url(cluster_url).nodes
    masters = [aioredis.Redis(host=host, port=port) for host, port in nodes]
    for master in masters:
        await master.execute_command("ACL", "SETUSER", name, *user.rules, f">{password}")
    hosts = ",".join(f"{host}:{port}" for host, port in nodes)
    yield f"redis+cluster://{name}:{password}@{hosts}"
    for master in masters:
        await master.execute_command("ACL", "DELUSER", name)
        await master.aclose()


async def test_a_tenant_user_runs_its_tenant_on_the_cluster(
    cluster_redis: aioredis.Redis, tenant_url: str, keyspace: Keyspace, tmp_path: Path
) -> None:
    client = connect(tenant_url)
    swarm = write_swarm(tmp_path, tenants={"acme": {"skills": ["echo"]}})
    stack = Stack(swarm, client, keyspace, {"fake": FakeBackend()})
    try:
        submissions = [Submission("acme", "echo", {"text": f"t{i}"}) for i in range(20)]
        tasks = await stack.planner().submit(submissions)
        committed = keyspace.tenant("acme").committed

        async def all_committed() -> bool:
            return int(await client.hlen(committed)) == len(tasks)

        async with Running(stack.worker(), stack.judge()):
            await eventually(all_committed, within=30)
        with pytest.raises(NoPermissionError):
            await client.hlen(keyspace.tenant("globex").committed)
    finally:
        await client.aclose()
