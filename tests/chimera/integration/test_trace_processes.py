"""One trace per task across processes: `chimera submit --trace`, a worker-only process and a
judge-only process, each exporting over OTLP/HTTP to a collector in the test."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from chimera.lib.keys import Keyspace
from tests.chimera.otlp_collector import CollectedSpan, OtlpCollector
from tests.conftest import REDIS_URL

pytestmark = pytest.mark.redis

ROOT = Path(__file__).resolve().parents[3]
TASKS = [
    {"tenant": "acme", "skill": "classify", "input": {"subject": "Refund", "body": "twice"}},
    {"tenant": "globex", "skill": "summarise", "input": {"customer": "Mia", "message": "Hi"}},
    {"tenant": "acme", "skill": "answer_order", "input": {"order_id": "A-1001", "question": "?"}},
]


def chimera(*args: str, prefix: str) -> list[str]:
    return [sys.executable, "-m", "chimera", *args, "--redis-url", REDIS_URL, "--prefix", prefix]


def start(args: list[str], prefix: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        chimera(*args, prefix=prefix),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )


def tracing_env(collector: OtlpCollector, service: str) -> dict[str, str]:
    return {
        **os.environ,
        "CHIMERA_TRACE": "1",
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
        "OTEL_SERVICE_NAME": service,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "CHIMERA_LOG_LEVEL": "WARNING",
    }


async def test_a_task_is_one_trace_from_submit_to_commit_across_processes(
    real_redis: aioredis.Redis, keyspace: Keyspace, tmp_path: Path
) -> None:
    prefix = keyspace.prefix
    base = ["worker", "swarm.yaml", "--concurrency", "10", "--grace", "2"]
    with OtlpCollector() as collector:
        procs = [
            start([*base, flag], prefix, tracing_env(collector, service), tmp_path / service)
            for flag, service in (("--no-judge", "worker"), ("--judge-only", "judge"))
        ]
        try:
            path = tmp_path / "tasks.jsonl"
            path.write_text("".join(json.dumps(t) + "\n" for t in TASKS))
            submitted = await asyncio.to_thread(
                subprocess.run,
                chimera("submit", "swarm.yaml", "--file", str(path), "--json", prefix=prefix),
                cwd=ROOT,
                env=tracing_env(collector, "submit"),
                capture_output=True,
                check=True,
            )
            ids = [row["task_id"] for row in json.loads(submitted.stdout)["submitted"]]
            await _wait_until_settled(real_redis, keyspace, ids)
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            codes = [await asyncio.to_thread(proc.wait, 30) for proc in procs]  # spans flushed
        assert codes == [0, 0]
        for task_id in ids:
            _check_trace(collector, task_id)
        # Tool calls of the agent skill are spans of its attempt.
        [agent] = _spans_naming(collector, ids[2], "process tasks")
        tools = [s for s in collector.trace(agent.trace_id) if s.name.startswith("execute_tool")]
        assert tools
        assert {s.parent_span_id for s in tools} == {agent.span_id}
        assert all(s.attributes["gen_ai.operation.name"] == "execute_tool" for s in tools)


def _check_trace(collector: OtlpCollector, task_id: str) -> None:
    [send] = _spans_naming(collector, task_id, "send tasks")
    spans = collector.trace(send.trace_id)
    by_name: dict[str, list[CollectedSpan]] = {}
    for span in spans:
        by_name.setdefault(span.name.split(" ")[0], []).append(span)
    [process] = [s for s in spans if s.name == "process tasks"]
    [judged] = [s for s in spans if s.name == "process results"]
    [commit] = [s for s in spans if s.name == "commit"]
    chats = by_name["chat"]
    assert send.parent_span_id == ""  # the trace starts at submit
    assert (send.kind, send.service) == ("SPAN_KIND_PRODUCER", "submit")
    assert send.attributes["messaging.system"] == "redis"
    assert (process.kind, process.service) == ("SPAN_KIND_CONSUMER", "worker")
    assert process.parent_span_id == send.span_id
    assert process.attributes["messaging.message.id"] == send.attributes["messaging.message.id"]
    assert all(c.parent_span_id == process.span_id and c.service == "worker" for c in chats)
    assert all(c.attributes["gen_ai.provider.name"] == "mock" for c in chats)
    assert (judged.kind, judged.service) == ("SPAN_KIND_CONSUMER", "judge")
    assert judged.parent_span_id == process.span_id
    assert judged.attributes["chimera.judge.verdict"] in ("approve", "review", "deny")
    assert (commit.parent_span_id, commit.service) == (judged.span_id, "judge")
    assert commit.attributes["chimera.commit.outcome"] in ("committed", "review", "denied")
    # Content capture is off by default: no prompt or output on any span.
    assert not any(
        k.startswith(("gen_ai.input", "gen_ai.output")) for s in spans for k in s.attributes
    )


def _spans_naming(collector: OtlpCollector, task_id: str, name: str) -> list[CollectedSpan]:
    return [
        s
        for s in collector.spans
        if s.name == name and s.attributes.get("chimera.task.id") == task_id
    ]


async def _wait_until_settled(client: aioredis.Redis, keyspace: Keyspace, ids: list[str]) -> None:
    deadline = time.monotonic() + 60
    while True:
        done: set[str] = set()
        for tenant in ("acme", "globex"):
            keys = keyspace.tenant(tenant)
            done |= set(await client.hkeys(keys.settled)) | set(await client.hkeys(keys.review))
        if set(ids) <= done:
            return
        assert time.monotonic() < deadline, "tasks did not settle"
        await asyncio.sleep(0.2)
