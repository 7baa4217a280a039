"""``chimera submit --wait``, ``results --task`` and ``cancel`` against a real Redis.

A Worker and a Judge run in a background thread (``tests.chimera.ops_support.workers``)
wherever a task must actually run; the commands run through click's test runner.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
from click.testing import CliRunner, Result

from chimera.cli.app import cli
from chimera.lib.keys import Keyspace
from tests.chimera.ops_support import workers, write_ops_swarm
from tests.conftest import REDIS_URL

INPUT = json.dumps({"text": "hello"})


class Ops:
    """``chimera`` with this test's swarm, Redis URL and prefix."""

    def __init__(self, swarm: Path, prefix: str) -> None:
        self.swarm = str(swarm)
        self.prefix = prefix
        self.runner = CliRunner()

    def __call__(self, command: str, *args: str) -> Result:
        """``chimera COMMAND SWARM ARGS…`` (``command`` may be ``"review reject"``)."""
        return self.runner.invoke(
            cli,
            [
                *command.split(),
                self.swarm,
                *args,
                "--redis-url",
                REDIS_URL,
                "--prefix",
                self.prefix,
            ],
            catch_exceptions=False,
        )

    def submit(self, skill: str, *args: str, tenant: str = "acme") -> Result:
        return self("submit", "--tenant", tenant, "--skill", skill, "--input", INPUT, *args)

    def json(self, command: str, *args: str) -> Any:
        result = self(command, *args, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)


@pytest.fixture
def ops(tmp_path: Path, keyspace: Keyspace, real_redis: aioredis.Redis) -> Ops:
    return Ops(write_ops_swarm(tmp_path), keyspace.prefix)


@pytest.fixture
def sync_redis() -> redis.Redis:
    return redis.Redis.from_url(REDIS_URL, decode_responses=True)


def test_submit_prints_the_session_and_the_ids(ops: Ops) -> None:
    result = ops.submit("approve")
    assert result.exit_code == 0
    [task_id] = result.stdout.split()
    session = result.stderr.strip().rsplit(" ", 1)[-1]
    assert result.stderr.startswith("submitted 1 task(s) to session ")
    out = ops.json("submit", "--tenant", "acme", "--skill", "approve", "--input", INPUT)
    assert out["session"] == out["submitted"][0]["session"]
    again = ops.json("results", "--task", task_id)
    assert (again["state"], again["session"]) == ("pending", session)


@pytest.mark.parametrize(
    ("skill", "code", "state"),
    [
        ("approve", 0, "committed"),
        ("deny", 3, "denied"),
        ("park", 4, "review"),
        ("crash", 5, "dead_lettered"),
    ],
)
def test_submit_wait_exits_by_the_outcome(
    ops: Ops, keyspace: Keyspace, skill: str, code: int, state: str
) -> None:
    with workers(Path(ops.swarm), REDIS_URL, keyspace.prefix):
        result = ops.submit(skill, "--wait", "--timeout", "30")
    assert result.exit_code == code, result.output
    [line] = result.stdout.splitlines()
    task_id, shown = line.split()[:2]
    assert shown == state
    if state in ("committed", "review"):
        assert line.endswith('{"answer": "yes"}')
    found = ops.json("results", "--task", task_id)
    assert found["state"] == state
    assert "Answer hello." in (found["prompt"] or "Answer hello.")


def test_submit_wait_times_out_with_124_and_json_shows_pending(ops: Ops) -> None:
    # No worker runs: the task stays queued.
    result = ops.submit("approve", "--wait", "--timeout", "0.2", "--json")
    assert result.exit_code == 124
    out = json.loads(result.stdout)
    [outcome] = out["outcomes"]
    assert (outcome["state"], outcome["task_id"]) == ("pending", out["submitted"][0]["task_id"])
    assert ops.submit("approve", "--timeout", "1").exit_code == 2  # --timeout needs --wait


def test_several_tasks_exit_with_the_worst_outcome(
    ops: Ops, tmp_path: Path, keyspace: Keyspace
) -> None:
    lines = [
        {"tenant": "acme", "skill": s, "input": {"text": s}} for s in ("approve", "park", "deny")
    ]
    jsonl = tmp_path / "tasks.jsonl"
    jsonl.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    with workers(Path(ops.swarm), REDIS_URL, keyspace.prefix):
        result = ops("submit", "--file", str(jsonl), "--wait", "--timeout", "30")
    assert result.exit_code == 3, result.output  # denied comes before review
    assert [line.split()[1] for line in result.stdout.splitlines()] == [
        "committed",
        "review",
        "denied",
    ]


def test_results_task_shows_a_committed_task_and_refuses_an_unknown_id(
    ops: Ops, keyspace: Keyspace
) -> None:
    with workers(Path(ops.swarm), REDIS_URL, keyspace.prefix):
        result = ops.submit("approve", "--wait", "--timeout", "30", "--json")
    task_id = json.loads(result.stdout)["submitted"][0]["task_id"]
    text = ops("results", "--task", task_id)
    assert text.exit_code == 0
    assert "state: committed" in text.stdout
    assert '"answer": "yes"' in text.stdout
    assert "Answer hello." in text.stdout  # the prompt as rendered
    unknown = ops("results", "--task", "01ARZ3NDEKTSV4RRFFQ69G5FAV")
    assert unknown.exit_code == 2
    assert "no task of this swarm has the id 01ARZ3NDEKTSV4RRFFQ69G5FAV" in unknown.stderr
    elsewhere = ops("results", "--task", task_id, "--tenant", "globex")
    assert elsewhere.exit_code == 2


def test_cancel_a_queued_task_never_runs_it(
    ops: Ops, keyspace: Keyspace, sync_redis: redis.Redis
) -> None:
    [task_id] = ops.submit("approve").stdout.split()
    result = ops("cancel", task_id, "--actor", "olga", "--reason", "duplicate request")
    assert (result.exit_code, result.stdout.strip()) == (0, f"{task_id}: cancelled")
    with workers(Path(ops.swarm), REDIS_URL, keyspace.prefix):
        waited = ops("submit", "--tenant", "acme", "--skill", "approve", "--input", INPUT, "--wait")
        assert waited.exit_code == 0  # the workers ran the next task: the cancelled one is gone
    keys = keyspace.tenant("acme")
    assert sync_redis.hget(keys.committed, task_id) is None
    assert sync_redis.xlen(keys.tasks) == 0
    found = ops.json("results", "--task", task_id)
    assert found["state"] == "cancelled"
    assert found["reason"] == "cancelled by human:olga: duplicate request"
    events = _events(sync_redis, keyspace, task_id)
    # Cancelled, then its copy in the stream discarded unrun by the Worker's admission.
    assert [e["type"] for e in events][-3:] == ["cancel_requested", "cancelled", "duplicate"]
    assert sync_redis.hlen(keys.audit_pending) == 0  # handed to the sinks, then cleared
    assert {e["actor"] for e in events[-3:-1]} == {"human:olga"}
    assert events[-1]["actor"].startswith("worker:")
    assert not any(e["type"] == "started" for e in events)
    # Cancelling again changes nothing.
    again = ops("cancel", task_id)
    assert again.stdout.strip() == f"{task_id}: not cancelled (already cancelled)"


def test_cancel_a_delayed_retry(ops: Ops, keyspace: Keyspace, sync_redis: redis.Redis) -> None:
    keys = keyspace.tenant("acme")
    with workers(Path(ops.swarm), REDIS_URL, keyspace.prefix):
        task_id = ops.submit("flaky").stdout.split()[0]
        # Its first attempt fails; the next one waits five minutes in the delayed set.
        _until(lambda: sync_redis.zcard(keys.delayed) == 1)
        assert ops("cancel", task_id).stdout.strip() == f"{task_id}: cancelled"
        assert sync_redis.zcard(keys.delayed) == 0
        ops("submit", "--tenant", "acme", "--skill", "approve", "--input", INPUT, "--wait")
    assert sync_redis.hget(keys.committed, task_id) is None
    assert sync_redis.xlen(keys.tasks) == 0
    found = ops.json("results", "--task", task_id)
    assert found["state"] == "cancelled"
    ran = [
        e["data"]["attempt"]
        for e in _events(sync_redis, keyspace, task_id)
        if e["type"] in ("result", "decision")
    ]
    assert ran == [1]  # the first attempt failed; the second never ran


def test_cancel_a_running_task_drops_its_result(
    ops: Ops, keyspace: Keyspace, sync_redis: redis.Redis
) -> None:
    keys = keyspace.tenant("acme")
    with workers(Path(ops.swarm), REDIS_URL, keyspace.prefix):
        task_id = ops.submit("slow").stdout.split()[0]
        # Delivered to the Worker and not acked: running (its mock call takes 1.5 s).
        _until(lambda: sync_redis.xpending(keys.tasks, "workers")["pending"] == 1)
        assert ops("cancel", task_id).stdout.strip() == f"{task_id}: cancelled"
        _until(
            lambda: sync_redis.xlen(keys.results) == 0 and _judged(sync_redis, keyspace, task_id)
        )
    assert sync_redis.hget(keys.committed, task_id) is None
    assert ops.json("results", "--task", task_id)["state"] == "cancelled"
    types = [e["type"] for e in _events(sync_redis, keyspace, task_id)]
    assert types[-1] == "cancelled"  # the Judge's: the Result was dropped
    assert types.count("cancelled") == 2
    status = ops.json("status")["tenants"]
    assert next(r for r in status if r["tenant"] == "acme")["committed"] == 0


def test_cancel_a_session(ops: Ops, keyspace: Keyspace, tmp_path: Path) -> None:
    lines = [{"tenant": "acme", "skill": "approve", "input": {"text": str(i)}} for i in range(3)]
    jsonl = tmp_path / "tasks.jsonl"
    jsonl.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    out = ops.json("submit", "--file", str(jsonl), "--session", "batch-1")
    assert out["session"] == "batch-1"
    result = ops.json("cancel", "--session", "batch-1", "--tenant", "acme")
    assert [row["cancelled"] for row in result["cancelled"]] == [True, True, True]
    sessions = ops.json("session list")["sessions"]
    row = next(r for r in sessions if r["session"] == "batch-1")
    assert (row["cancelled"], row["state"]) == (3, "completed")
    assert ops("cancel", "--session", "batch-1").exit_code == 2  # needs --tenant
    assert ops("cancel", "--session", "nope", "--tenant", "acme").exit_code == 2
    assert ops("cancel", "01ARZ3NDEKTSV4RRFFQ69G5FAV").exit_code == 2
    assert ops("cancel").exit_code == 2


def _events(client: redis.Redis, keyspace: Keyspace, task_id: str) -> list[dict[str, Any]]:
    entries = client.xrange(keyspace.tenant("acme").audit)
    events = [json.loads(fields["event"]) for _, fields in entries]
    return [e for e in events if e.get("task_id") == task_id]


def _judged(client: redis.Redis, keyspace: Keyspace, task_id: str) -> bool:
    return [e["type"] for e in _events(client, keyspace, task_id)].count("cancelled") == 2


def _until(check: Any, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)
