"""Faults reaching the commands on a real Redis: one line, the right exit code, no secret.

Redis users are made with ``ACL SETUSER`` for one test and deleted after it. Also here:
``chimera submit --json`` piped into a slow reader gets every byte.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis
from click.testing import CliRunner, Result

from chimera.cli.app import cli
from chimera.lib.keys import Keyspace
from tests.conftest import REDIS_URL

pytestmark = pytest.mark.redis

ROOT = Path(__file__).resolve().parents[3]
SWARM = str(ROOT / "swarm.yaml")
CLASSIFY = {"subject": "Seats", "body": "How do we add seats?"}
PASSWORD = f"pw-{uuid.uuid4().hex}"  # a canary: it must never be printed


def as_user(user: str, password: str) -> str:
    """``REDIS_URL`` with credentials."""
    scheme, rest = REDIS_URL.split("://", 1)
    return f"{scheme}://{user}:{password}@{rest.split('@')[-1]}"


@pytest.fixture
def sync_redis(real_redis: aioredis.Redis) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def acl_user(sync_redis: redis.Redis) -> Iterator[Callable[..., str]]:
    """Make Redis users with the given ACL rules; returns their URL. Deleted afterwards."""
    made: list[str] = []

    def make(*rules: str) -> str:
        name = f"chimera-test-{uuid.uuid4().hex[:10]}"
        sync_redis.execute_command("ACL", "SETUSER", name, "reset", "on", f">{PASSWORD}", *rules)
        made.append(name)
        return as_user(name, PASSWORD)

    yield make
    for name in made:
        sync_redis.execute_command("ACL", "DELUSER", name)


def chimera(url: str, prefix: str, *args: str) -> Result:
    return CliRunner().invoke(
        cli, [*args, "--redis-url", url, "--prefix", prefix], catch_exceptions=False
    )


def one_line(result: Result, code: int) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert PASSWORD not in result.output
    return lines[0]


def submit_one(prefix: str, tenant: str = "acme") -> None:
    result = chimera(
        REDIS_URL, prefix, "submit", SWARM, "--tenant", tenant, "--skill", "classify",
        "--input", json.dumps(CLASSIFY),
    )  # fmt: skip
    assert result.exit_code == 0, result.output


def test_status_says_which_tenants_the_user_may_not_read(
    keyspace: Keyspace, acl_user: Callable[..., str]
) -> None:
    prefix = keyspace.prefix
    submit_one(prefix, "acme")
    submit_one(prefix, "globex")
    url = acl_user(f"~{prefix}:{{acme}}:*", "+@all")
    result = chimera(url, prefix, "status", SWARM, "--json")
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    rows = {row["tenant"]: row for row in json.loads(result.stdout)["tenants"]}
    assert (rows["acme"]["access"], rows["acme"]["tasks"], rows["acme"]["error"]) == ("ok", 1, None)
    globex = rows["globex"]
    assert globex["access"] == "no permission"
    assert globex["tasks"] is None
    assert globex["committed"] is None
    assert "no permissions" in globex["error"]
    table = chimera(url, prefix, "status", SWARM)
    globex_line = next(line for line in table.stdout.splitlines() if "globex" in line)
    assert "no permission" in globex_line
    assert " 0 " not in globex_line  # nothing that reads as a count
    # Asked for that tenant alone, the refusal is the answer: one line, exit 1.
    only = chimera(url, prefix, "status", SWARM, "--tenant", "globex", "--json")
    assert only.exit_code == 1
    assert only.stdout == ""
    [line] = only.stderr.splitlines()
    assert line.startswith("error: no permission to read tenant 'globex': ")
    assert line.endswith(f"this Redis user may lack ~{prefix}:{{globex}}:* (see `chimera acl`)")
    assert PASSWORD not in only.stderr


def test_a_wrong_password_is_one_line_without_it(
    keyspace: Keyspace, acl_user: Callable[..., str]
) -> None:
    url = acl_user("~*", "+@all").replace(PASSWORD, f"not-{PASSWORD}")
    for args in (["status", SWARM], ["worker", SWARM], ["run", SWARM]):
        line = one_line(chimera(url, keyspace.prefix, *args), 2)
        assert line.startswith("error: cannot reach Redis at redis://***@")
        assert "authentication failed" in line


def test_a_refused_write_mid_command_is_one_line_and_exit_1(
    keyspace: Keyspace, acl_user: Callable[..., str]
) -> None:
    prefix = keyspace.prefix
    url = acl_user(f"~{prefix}:*", "+@all", "-@write", "-@scripting")
    args = ["submit", SWARM, "--tenant", "acme", "--skill", "classify", "--input", "{}"]
    args[-1] = json.dumps(CLASSIFY)
    line = one_line(chimera(url, prefix, *args), 1)
    assert line.startswith("error: Redis at redis://***@")
    assert " failed: no permission: " in line
    loud = chimera(url, prefix, *args, "--log-level", "DEBUG")
    assert loud.exit_code == 1
    assert "Traceback (most recent call last)" in loud.stderr
    last = loud.stderr.splitlines()[-1]
    assert last.startswith("error: Redis at redis://***@")
    assert " failed: no permission: " in last
    assert PASSWORD not in loud.output


def test_submit_json_reaches_a_slow_reader_whole(
    real_redis: aioredis.Redis, keyspace: Keyspace, tmp_path: Path
) -> None:
    count = 3000
    rows = [{"tenant": "acme", "skill": "classify", "input": CLASSIFY}] * count
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    writer = subprocess.Popen(
        [sys.executable, "-m", "chimera", "submit", SWARM, "--file", str(tasks), "--json",
         "--redis-url", REDIS_URL, "--prefix", keyspace.prefix],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    # The reader starts reading only after a second, so the writer blocks on a full pipe;
    # then it passes everything on.
    reader = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; time.sleep(1); sys.stdout.buffer.write(sys.stdin.buffer.read())"],
        stdin=writer.stdout, stdout=subprocess.PIPE,
    )  # fmt: skip
    assert writer.stdout is not None
    writer.stdout.close()  # the reader holds the pipe now
    _, err = writer.communicate(timeout=60)
    out, _ = reader.communicate(timeout=60)
    assert writer.returncode == 0, err.decode()
    submitted = json.loads(out)["submitted"]
    assert len(submitted) == count
    assert len({row["task_id"] for row in submitted}) == count
