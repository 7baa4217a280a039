"""A sensitive MCP tool call across processes: parked by one worker, which is then SIGKILLed;
approved with `chimera review approve`; run and committed by another worker.

The demo support-desk server runs as a real stdio MCP subprocess of each worker. The refund
is proven to have run from the audit trail (the ``tool_call`` event of ``issue_refund`` and
its result size) and from the committed Result, not from the server's memory, which died
with the first worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import yaml

from chimera.lib.keys import Keyspace
from tests.conftest import REDIS_URL

pytestmark = [pytest.mark.redis, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]

REFUND_SKILL: dict[str, Any] = {
    "name": "refund",
    "backend": "mock",
    "prompt": "Refund a duplicate charge on order {{ order_id }}",
    "input_schema": {
        "type": "object",
        "required": ["order_id"],
        "properties": {"order_id": {"type": "string"}},
    },
    "output_schema": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"type": "string"}},
    },
    "tools": ["desk.lookup_order", "desk.issue_refund"],
    "max_steps": 4,
    "mock": {
        "confidence": 0.95,
        "output": {"status": "refunded"},
        "tool_calls": [
            [{"tool": "lookup_order", "arguments": {"order_id": "{{ order_id }}"}}],
            [
                {
                    "tool": "issue_refund",
                    "arguments": {
                        "order_id": "{{ order_id }}",
                        "amount": 49.0,
                        "reason": "duplicate charge",
                    },
                }
            ],
        ],
    },
}


def write_swarm(folder: Path) -> Path:
    (folder / "skills").mkdir()
    (folder / "skills" / "refund.yaml").write_text(yaml.safe_dump(REFUND_SKILL))
    swarm = {
        "skills": ["skills/*.yaml"],
        "mcp_servers": {
            "desk": {
                "command": sys.executable,
                "args": ["-m", "chimera.demo.support_tools"],
                "tool_settings": {"issue_refund": {"sensitive": True}},
            }
        },
        "tenants": {"acme": {"skills": ["refund"]}},
        "audit": {"sinks": ["redis"]},
    }
    path = folder / "swarm.yaml"
    path.write_text(yaml.safe_dump(swarm))
    return path


def chimera(*args: str, prefix: str) -> list[str]:
    return [sys.executable, "-m", "chimera", *args, "--redis-url", REDIS_URL, "--prefix", prefix]


def run_cli(*args: str, prefix: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        chimera(*args, prefix=prefix), cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def start_worker(swarm: Path, prefix: str, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        chimera("worker", str(swarm), "--lease-ms", "1000", "--grace", "2", prefix=prefix),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
        env={**os.environ, "CHIMERA_LOG_LEVEL": "WARNING"},
        start_new_session=True,
    )


async def wait_for(check: Any, within: float, what: str) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def audit_events(swarm: Path, prefix: str) -> list[dict[str, Any]]:
    shown = run_cli(
        "audit", str(swarm), "--tenant", "acme", "--limit", "0", "--json", prefix=prefix
    )
    assert shown.returncode == 0, shown.stderr
    return [record["event"] for record in json.loads(shown.stdout)["events"]]


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the worker and its MCP server child (they share the session's group)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


async def test_parked_call_survives_a_killed_worker_and_runs_on_another_after_approval(
    real_redis: aioredis.Redis, keyspace: Keyspace, tmp_path: Path
) -> None:
    swarm = write_swarm(tmp_path)
    prefix = keyspace.prefix
    keys = keyspace.tenant("acme")
    first = start_worker(swarm, prefix, tmp_path / "first.log")
    second: subprocess.Popen[bytes] | None = None
    try:
        submitted = run_cli(
            "submit",
            str(swarm),
            "--tenant",
            "acme",
            "--skill",
            "refund",
            "--input",
            '{"order_id": "A-1001"}',
            "--json",
            prefix=prefix,
        )
        assert submitted.returncode == 0, submitted.stderr
        task_id = json.loads(submitted.stdout)["submitted"][0]["task_id"]

        async def parked() -> bool:
            return bool(await real_redis.hexists(keys.review, task_id))

        await wait_for(parked, 60, "the sensitive call to be parked")
        listed = run_cli("review", "show", str(swarm), task_id, "--json", prefix=prefix)
        assert listed.returncode == 0, listed.stderr
        proposed = json.loads(listed.stdout)["details"]["tool_calls"]
        assert [(c["tool"], c["arguments"]["order_id"]) for c in proposed] == [
            ("issue_refund", "A-1001")
        ]
        before = audit_events(swarm, prefix)
        refunds = [
            e for e in before if e["type"] == "tool_call" and e["data"]["tool"] == "issue_refund"
        ]
        assert refunds == [], "a sensitive call ran before anyone approved it"

        kill_group(first)
        approved = run_cli(
            "review", "approve", str(swarm), task_id, "--actor", "ops", prefix=prefix
        )
        assert approved.returncode == 0, approved.stderr
        assert not await real_redis.hexists(keys.review, task_id)

        second = start_worker(swarm, prefix, tmp_path / "second.log")

        async def committed() -> bool:
            return bool(await real_redis.hexists(keys.committed, task_id))

        await wait_for(committed, 60, "the resumed task to commit on the second worker")
        after = audit_events(swarm, prefix)
        mine = [e for e in after if e.get("task_id") == task_id]
        calls = [e["data"] for e in mine if e["type"] == "tool_call"]
        assert [c["tool"] for c in calls] == ["lookup_order", "issue_refund"]
        assert calls[-1].get("error") is None
        types = [e["type"] for e in mine]
        assert types.count("review") == 1
        assert types.count("resumed") == 1
        assert types.count("committed") == 1
        decisions = [e for e in mine if e["type"] == "human_decision"]
        assert len(decisions) == 1, decisions
        assert "ops" in json.dumps(decisions[0]), decisions
        verified = run_cli("audit", str(swarm), "--tenant", "acme", "--verify", prefix=prefix)
        assert verified.returncode == 0, verified.stdout + verified.stderr
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    kill_group(process)
