"""A permanent fault stops a worker with one line and a non-zero exit, not a stream of
tracebacks: here a Redis user that may not run scripts."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path
from urllib.parse import urlparse

import pytest
import redis.asyncio as aioredis

from chimera.lib.keys import Keyspace
from tests.conftest import REDIS_URL

pytestmark = pytest.mark.redis

ROOT = Path(__file__).resolve().parents[3]


async def test_a_worker_that_may_not_run_scripts_stops_with_one_line(
    real_redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    user, password = f"chimera-test-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    await real_redis.execute_command(
        "ACL", "SETUSER", user, "on", f">{password}", "~*", "&*", "+@all", "-@scripting"
    )
    try:
        url = urlparse(REDIS_URL)
        limited = f"redis://{user}:{password}@{url.hostname}:{url.port or 6379}/0"
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "chimera", "worker", "swarm.yaml", "--redis-url", limited),
            *("--prefix", keyspace.prefix, "--grace", "1"),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "CHIMERA_LOG_LEVEL": "WARNING"},
        )
        _, raw_err = await asyncio.wait_for(process.communicate(), timeout=60)
    finally:
        await real_redis.execute_command("ACL", "DELUSER", user)
    stderr = raw_err.decode()
    assert process.returncode == 1
    assert "Traceback" not in stderr
    assert password not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert "NOPERM" in errors[0] or "permission" in errors[0].lower()
