"""Tenant isolation by Redis ACL, on the real server: `chimera acl` prints users that let a
tenant's processes touch its own keys, and nothing of another tenant's."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
import redis.asyncio as aioredis
from redis.exceptions import NoPermissionError

from chimera.lib.acl import commands, script_commands
from chimera.lib.keys import Keyspace
from tests.conftest import REDIS_URL

pytestmark = pytest.mark.redis

ROOT = Path(__file__).resolve().parents[3]
SWARM = str(ROOT / "swarm.yaml")
SUMMARISE = json.dumps({"customer": "Dana", "message": "I was charged twice."})


async def chimera(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "chimera",
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "CHIMERA_LOG_LEVEL": "WARNING"},
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


class Users:
    """The users `chimera acl` printed, created under this test's own names and passwords."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self.tag = uuid.uuid4().hex[:8]
        self.passwords: dict[str, str] = {}
        self.created: list[str] = []

    async def create(self, rows: list[dict[str, str]]) -> None:
        for row in rows:
            words = row["command"].split()
            assert words[:3] == ["ACL", "SETUSER", row["user"]]
            name, password = f"{row['user']}-{self.tag}", uuid.uuid4().hex
            await self.client.execute_command("ACL", "SETUSER", name, *words[3:], f">{password}")
            self.created.append(name)
            self.passwords[row["tenant"] or "operator"] = password

    def url(self, who: str) -> str:
        user = f"chimera-tenant-{who}" if who != "operator" else "chimera-operator"
        parts = urlparse(REDIS_URL)
        host = f"{parts.hostname}:{parts.port or 6379}"
        return f"redis://{user}-{self.tag}:{self.passwords[who]}@{host}/0"

    async def drop(self) -> None:
        for name in self.created:
            await self.client.execute_command("ACL", "DELUSER", name)


@pytest.fixture
async def users(real_redis: aioredis.Redis, keyspace: Keyspace) -> AsyncIterator[Users]:
    code, out, err = await chimera("acl", SWARM, "--prefix", keyspace.prefix, "--json")
    assert code == 0, err
    created = Users(real_redis, keyspace.prefix)
    await created.create(json.loads(out)["users"])
    yield created
    await created.drop()


def test_the_rules_name_every_command_the_scripts_call() -> None:
    assert script_commands() <= set(commands())
    assert {"xack", "xadd", "hincrby", "xclaim"} <= script_commands()


async def test_acl_prints_one_user_per_tenant_and_an_operator(keyspace: Keyspace) -> None:
    code, out, _ = await chimera("acl", SWARM, "--prefix", "p")
    assert code == 0
    lines = [line for line in out.splitlines() if line.startswith("ACL SETUSER")]
    assert [line.split()[2] for line in lines] == [
        "chimera-tenant-acme",
        "chimera-tenant-globex",
        "chimera-operator",
    ]
    assert "~p:{acme}:*" in lines[0].split()
    assert "~p:*" in lines[2].split()
    assert all(" >" not in line and "nopass" not in line for line in lines)
    code, out, _ = await chimera("acl", SWARM, "--tenant", "globex")
    assert [line.split()[2] for line in out.splitlines() if line.startswith("ACL")] == [
        "chimera-tenant-globex"
    ]
    code, _, err = await chimera("acl", SWARM, "--tenant", "initech")
    assert code == 2
    assert err.strip() == "error: unknown tenant 'initech' (known: acme, globex)"


async def test_a_tenant_user_runs_its_own_tenant_and_is_refused_the_other(
    users: Users, keyspace: Keyspace, real_redis: aioredis.Redis
) -> None:
    acme, prefix = users.url("acme"), ("--prefix", keyspace.prefix)
    # Under acme's user: submit, a worker for acme, status of acme.
    code, out, err = await chimera(
        "submit", SWARM, "--tenant", "acme", "--skill", "summarise", "--input", SUMMARISE,
        "--redis-url", acme, *prefix,
    )  # fmt: skip
    assert code == 0, err
    task_id = out.strip()
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "chimera", "worker", SWARM, "--tenant", "acme",
        "--redis-url", acme, *prefix, "--grace", "1",
        cwd=ROOT, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "CHIMERA_LOG_LEVEL": "WARNING"},
    )  # fmt: skip
    try:
        keys = Keyspace(keyspace.prefix).tenant("acme")
        for _ in range(900):  # the demo's mock answers summarise in the review band
            if await real_redis.hexists(keys.review, task_id) or worker.returncode is not None:
                break
            await asyncio.sleep(0.1)
    finally:
        if worker.returncode is None:
            worker.send_signal(signal.SIGTERM)
        _, worker_err = await asyncio.wait_for(worker.communicate(), timeout=30)
    assert await real_redis.hexists(keys.review, task_id), worker_err.decode()
    assert worker.returncode == 0, worker_err.decode()
    code, out, err = await chimera(
        "status", SWARM, "--tenant", "acme", "--json", "--redis-url", acme, *prefix
    )
    assert code == 0, err
    [row] = json.loads(out)["tenants"]
    assert (row["access"], row["review"]) == ("ok", 1)
    # The other commands a tenant's operator runs for that tenant work under its user too.
    for args in (
        ("review", "list", SWARM, "--tenant", "acme", "--json"),
        ("session", "list", SWARM, "--tenant", "acme", "--json"),
        ("dlq", "list", SWARM, "--tenant", "acme", "--json"),
        ("results", SWARM, "--tenant", "acme", "--json"),
        ("audit", SWARM, "--tenant", "acme", "--verify"),
    ):
        code, out, err = await chimera(*args, "--redis-url", acme, *prefix)
        assert code == 0, (args, err)
    # Deciding a review is an operator's (it looks the task up across the tenants).
    code, _, err = await chimera(
        "review", "approve", SWARM, task_id, "--redis-url", users.url("operator"), *prefix
    )
    assert code == 0, err
    assert await real_redis.hexists(keys.committed, task_id)

    # Under acme's user, globex's keys are out of reach: one line each, naming why.
    for args in (
        ("status", SWARM, "--tenant", "globex"),
        ("submit", SWARM, "--tenant", "globex", "--skill", "summarise", "--input", SUMMARISE),
        ("results", SWARM, "--tenant", "globex"),
    ):
        code, out, err = await chimera(*args, "--redis-url", acme, *prefix)
        assert code == 1, (args, err)
        assert out == ""
        lines = err.splitlines()
        assert len(lines) == 1, err
        assert "no permission" in lines[0]
        assert "globex" in lines[0]
        assert "Traceback" not in err
        assert users.passwords["acme"] not in err
    code, _, err = await chimera(
        "worker", SWARM, "--tenant", "globex", "--redis-url", acme, *prefix
    )
    assert code == 1
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert "no permission" in errors[0]
    assert "~" + f"{keyspace.prefix}:{{globex}}:*" in errors[0]
    # Nothing of globex's was written.
    assert await real_redis.keys(f"{keyspace.prefix}:{{globex}}:*") == []


async def test_a_tenant_user_can_neither_read_nor_write_another_tenants_keys(
    users: Users, keyspace: Keyspace
) -> None:
    client = aioredis.from_url(users.url("acme"), decode_responses=True)
    globex = Keyspace(keyspace.prefix).tenant("globex")
    acme = Keyspace(keyspace.prefix).tenant("acme")
    try:
        sha = await client.script_load("return redis.call('HGET', KEYS[1], 'x')")
        for attempt in (
            client.hget(globex.ledger, "x"),
            client.hset(globex.ledger, "x", "y"),
            client.xadd(globex.tasks, {"body": "{}"}),
            client.xrange(globex.audit),
            client.xlen(globex.dlq),
            # A script is checked against the keys it is given, too.
            client.evalsha(sha, 1, globex.ledger),
        ):
            with pytest.raises(NoPermissionError):
                await attempt
        await client.hset(acme.ledger, "x", "y")  # its own keys are fine
        with pytest.raises(NoPermissionError):  # and only with the commands chimera uses
            await client.execute_command("FLUSHALL")
    finally:
        await client.aclose()


async def test_the_operator_reaches_every_tenant(users: Users, keyspace: Keyspace) -> None:
    code, out, err = await chimera(
        "status", SWARM, "--json", "--redis-url", users.url("operator"),
        "--prefix", keyspace.prefix,
    )  # fmt: skip
    assert code == 0, err
    assert [r["access"] for r in json.loads(out)["tenants"]] == ["ok", "ok"]
