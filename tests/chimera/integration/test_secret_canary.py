"""Canary: an API key and a Redis password reach chimera through the environment and a URL;
after runs that fail in every way, neither appears anywhere chimera wrote.

Every command runs with ``--log-level DEBUG`` (tracebacks included). The API key goes to
an OpenAI-compatible server that echoes it back in its errors (401, 500, a plain-text 400);
the Redis password is refused; a configuration quotes the secrets where they do not fit.
Then everything is searched: stdout and stderr of every command, the files they wrote, and
every key chimera stored in Redis (results, dead letters, audit trail, pending events).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

import pytest
import redis.asyncio as aioredis
import yaml

from chimera.lib.keys import Keyspace
from tests.conftest import REDIS_URL

pytestmark = pytest.mark.redis

ROOT = Path(__file__).resolve().parents[3]
#: Shaped like nothing a pattern would catch: only knowing the value finds it.
API_KEY = "canary4f1e9Bq7XkZ2"
PASSWORD = "canaryPw7Hn3Lr9Qs"
ROUTE = "canaryRoute5Yt8"  # a ${VAR} of no secret-looking name


class EchoingServer(BaseHTTPRequestHandler):
    """An OpenAI-compatible server that repeats the caller's Authorization in its errors."""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        auth = self.headers.get("Authorization", "")
        key = auth.removeprefix("Bearer ")
        model = body.get("model")
        if model == "echo-401":
            self._send(401, {"error": {"message": f"Incorrect API key provided: {key}"}})
        elif model == "echo-400":
            self._send(400, f"bad request from {auth} ({key})".encode(), "text/plain")
        else:
            self._send(500, {"error": {"message": f"upstream refused {auth}", "key": key}})

    def _send(self, status: int, reply: Any, kind: str = "application/json") -> None:
        data = reply if isinstance(reply, bytes) else json.dumps(reply).encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Echo", self.headers.get("Authorization", ""))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), EchoingServer)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


def write_swarm(folder: Path, bad: str = "") -> Path:
    """A swarm of three skills on the echoing server; ``bad``: ``swarm`` or ``skills`` quote
    the secrets where a number belongs."""
    skills = folder / "skills"
    skills.mkdir(parents=True, exist_ok=True)
    names = {"refused": "echo-401", "rejected": "echo-400", "failing": "echo-500"}
    for name, model in names.items():
        skill: dict[str, Any] = {
            "name": name,
            "backend": "openai",
            "model": model,
            "prompt": "Answer {{ text }}",
            "input_schema": {"type": "object", "properties": {"text": {"type": "string"}}},
            "output_schema": {"type": "object", "properties": {"answer": {"type": "string"}}},
            "timeout_s": 5,
            "retry": {"max_attempts": 2, "backoff_base_s": 0.01, "backoff_max_s": 0.02},
        }
        if bad == "skills":
            skill["timeout_s"] = "${CHIMERA_OPENAI_API_KEY}"
            skill["model"] = "${DESK_ROUTE}"
            skill["options"] = {"temperature": "${DESK_ROUTE}"}
        (skills / f"{name}.yaml").write_text(yaml.safe_dump(skill))
    swarm = {
        "version": 1,
        "name": "canary",
        "skills": ["skills/*.yaml"],
        "tenants": {"acme": {"skills": sorted(names)}},
        "judge": {"policy": "threshold", "approve_at": 0.8, "review_at": 0.5},
        "audit": {"sinks": ["log", "redis"]},
        "jobs": [{"tenant": "acme", "skill": n, "input": {"text": n}} for n in sorted(names)],
    }
    if bad == "swarm":
        swarm["judge"]["approve_at"] = "${DESK_ROUTE}"
    path = folder / "swarm.yaml"
    path.write_text(yaml.safe_dump(swarm))
    return path


def refused_url() -> str:
    parts = urlparse(REDIS_URL)
    return f"redis://canary-user:{PASSWORD}@{parts.hostname}:{parts.port or 6379}/0"


class Runs:
    """Runs commands with the secrets in their environment; keeps everything they wrote."""

    def __init__(self, base_url: str, folder: Path) -> None:
        self.env = {
            **os.environ,
            "CHIMERA_OPENAI_API_KEY": API_KEY,
            "CHIMERA_OPENAI_BASE_URL": base_url,
            "CHIMERA_OPENAI_MAX_RETRIES": "0",
            "DESK_ROUTE": ROUTE,
            "CHIMERA_LOG_LEVEL": "DEBUG",
            "PYTHONUNBUFFERED": "1",
        }
        self.folder = folder
        self.written: list[str] = []
        self.codes: list[int] = []

    async def __call__(self, *args: str) -> int:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "chimera", *args, "--log-level", "DEBUG",
            cwd=self.folder, env=self.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), timeout=120)
        self.written += [out.decode(errors="replace"), err.decode(errors="replace")]
        assert process.returncode is not None
        self.codes.append(process.returncode)
        return process.returncode


async def stored_text(client: aioredis.Redis, prefix: str) -> str:
    """Everything under ``prefix`` in Redis, as one text."""
    parts = []
    async for key in client.scan_iter(match=f"{prefix}:*"):
        kind = await client.type(key)
        if kind == "stream":
            parts.append(json.dumps(await client.xrange(key)))
        elif kind == "hash":
            parts.append(json.dumps(await client.hgetall(key)))
        elif kind == "zset":
            parts.append(json.dumps(await client.zrange(key, 0, -1)))
        elif kind == "set":
            parts.append(json.dumps(sorted(await client.smembers(key))))
        elif kind == "string":
            parts.append(str(await client.get(key)))
        parts.append(key)
    return "\n".join(parts)


def leaks(text: str) -> list[str]:
    found = []
    for secret in (API_KEY, PASSWORD, ROUTE):
        for form in {secret, quote(secret, safe="")}:
            if form in text:
                found.append(form)
    return found


async def test_no_secret_is_written_anywhere_after_runs_that_fail_every_way(
    real_redis: aioredis.Redis, keyspace: Keyspace, tmp_path: Path, server: str
) -> None:
    swarm = write_swarm(tmp_path / "good")
    bad_swarm = write_swarm(tmp_path / "bad-swarm", bad="swarm")
    bad_skills = write_swarm(tmp_path / "bad-skills", bad="skills")
    runs = Runs(server, tmp_path)
    redis, prefix = ("--redis-url", REDIS_URL), ("--prefix", keyspace.prefix)
    out = tmp_path / "out.jsonl"

    # The backend refuses every call and echoes the key: the run ends with failures.
    code = await runs("run", str(swarm), *redis, *prefix, "--json", "--out", str(out))
    assert code in (1, 3), runs.written[-1]
    for command in (
        ("results", str(swarm), "--json"),
        ("dlq", "list", str(swarm), "--json"),
        ("audit", str(swarm), "--tenant", "acme", "--json", "--limit", "0"),
        ("review", "list", str(swarm), "--json"),
        ("status", str(swarm), "--json"),
    ):
        assert await runs(*command, *redis, *prefix) == 0, runs.written[-1]
    # Redis refuses the password, for every kind of command.
    refused = ("--redis-url", refused_url(), *prefix)
    for command in (
        ("worker", str(swarm)),
        ("submit", str(swarm), "--tenant", "acme", "--skill", "refused", "--input", "{}"),
        ("status", str(swarm), "--json"),
        ("run", str(swarm), "--json"),
    ):
        assert await runs(*command, *refused) == 2, runs.written[-1]
    # The configuration quotes the secrets where they do not fit.
    for bad in (bad_swarm, bad_skills):
        for command in (("validate", str(bad)), ("run", str(bad), "--json")):
            assert await runs(*command) == 2, runs.written[-1]

    everything = "\n".join(
        [*runs.written, out.read_text(), await stored_text(real_redis, keyspace.prefix)]
    )
    assert leaks(everything) == []
    # The runs failed where the secrets were echoed, and said so without them.
    assert "(HTTP 500): upstream refused Bearer [REDACTED]" in everything
    assert "(HTTP 400): bad request from Bearer [REDACTED] ([REDACTED])" in everything
    assert "authentication failed: invalid username-password pair" in everything
    assert "approve_at: input should be a valid number" in everything
    assert "timeout_s: " in everything
    # Configuration problems show a value from the environment as the ${VAR} it was written as.
    assert "(got '${DESK_ROUTE}')" in everything
    assert "(got '${CHIMERA_OPENAI_API_KEY}')" in everything
