"""Secrets the process knows of by value are never repeated in what chimera writes."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import redis.asyncio as aioredis
import structlog

from chimera.lib import secret_values
from chimera.lib.keys import Keyspace
from chimera.lib.logging import redact_text, redact_value
from chimera.models.result import ErrorKind
from chimera.ports.llm import BackendError
from chimera.services.planner import Submission
from tests.chimera.helpers import ECHO_SKILL, FakeBackend, Running, eventually, write_swarm
from tests.chimera.stack import Stack


def secret() -> str:
    return f"s3cr{uuid.uuid4().hex[:12]}"  # shaped like nothing a pattern knows


def test_values_are_redacted_as_given_and_url_quoted() -> None:
    values = secret_values.SecretValues()
    values.add(["pa ss/word+1", "short", None, ""])
    assert len(values) == 2  # the value and its quoted form; too short ones are not kept
    text = "a pa ss/word+1 b pa%20ss%2Fword%2B1 c short"
    assert values.redact(text) == "a [REDACTED] b [REDACTED] c short"


def test_environment_secrets_are_the_ones_named_so() -> None:
    key, route = secret(), secret()
    secret_values.remember_environment(
        {"ACME_API_KEY": key, "MCP_TOKEN_X": route, "HOME": "/home/someone", "PWD": "/work"}
    )
    assert redact_text(f"{key} {route} /home/someone /work") == (
        "[REDACTED] [REDACTED] /home/someone /work"
    )
    assert secret_values.secret_name("CHIMERA_OPENAI_API_KEY")
    assert secret_values.secret_name("REDIS_PASSWORD")
    assert not secret_values.secret_name("KEYBOARD_LAYOUT")
    assert not secret_values.secret_name("SSH_AUTH_SOCK")


def test_references_in_a_file_and_url_passwords_are_remembered(tmp_path: Path) -> None:
    route, password, other = secret(), secret(), secret()
    config = tmp_path / "swarm.yaml"
    config.write_text("a: ${ROUTE}\nb: $${ESCAPED}\nc: ${MISSING:-x}\n")
    secret_values.remember_references(
        config.read_text(), {"ROUTE": route, "ESCAPED": other, "MISSING": ""}
    )
    secret_values.remember_url(f"redis://user:{password}@cache:6379/0")
    secret_values.remember_url(f"unix:///run/redis.sock?password={other}x")
    assert redact_text(f"{route} {password} {other}x") == "[REDACTED] [REDACTED] [REDACTED]"
    assert redact_text(other) == other  # only escaped: never read from the environment
    assert redact_value({"nested": [f"at {route}"]}) == {"nested": ["at [REDACTED]"]}


async def test_a_backend_echoing_a_secret_puts_it_in_no_result_audit_dead_letter_or_log(
    tmp_path: Path, fake_redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    key = secret()
    secret_values.remember(key)
    skills = [
        {**ECHO_SKILL, "name": "refused", "backend": "refusing"},
        {**ECHO_SKILL, "name": "flaky", "backend": "flaky"},
    ]
    swarm = write_swarm(tmp_path, skills=skills)
    refusing = FakeBackend(
        fail_times=9, error=BackendError(f"key {key} refused", ErrorKind.INVALID_INPUT)
    )
    flaky = FakeBackend(fail_times=9, error=BackendError(f"upstream {key} down"))
    stack = Stack(swarm, fake_redis, keyspace, {"refusing": refusing, "flaky": flaky})
    await stack.planner().submit(
        [Submission("acme", "refused", {"text": "a"}), Submission("acme", "flaky", {"text": "b"})]
    )
    with structlog.testing.capture_logs() as logs:
        async with Running(stack.worker(promote_every_s=0.01), stack.judge()):
            await eventually(lambda: _settled(stack, 2), within=15)
    keys = stack.keys()
    stored = json.dumps(
        [
            await fake_redis.xrange(keys.dlq),
            await fake_redis.xrange(keys.audit),
            await fake_redis.hgetall(keys.settled),
            await fake_redis.hgetall(keys.audit_pending),
        ]
    )
    assert "[REDACTED]" in stored  # the errors were kept, without the key
    assert key not in stored
    assert key not in json.dumps(logs, default=str)


async def _settled(stack: Stack, n: int) -> bool:
    return bool(await stack.client.hlen(stack.keys().settled) >= n)
