"""A reviewer's session against a real Redis: show, reject with retry, bulk decisions.

The ``park`` skill is sensitive (every Result waits for a human) and allows two attempts;
its prompt shows the reviewer's feedback (``{{ feedback }}``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from chimera.lib.keys import Keyspace
from tests.chimera.integration.test_cli_tasks import Ops
from tests.chimera.ops_support import workers, write_ops_swarm
from tests.conftest import REDIS_URL


@pytest.fixture
def ops(tmp_path: Path, keyspace: Keyspace, real_redis: aioredis.Redis) -> Ops:
    return Ops(write_ops_swarm(tmp_path), keyspace.prefix)


def parked(ops: Ops, keyspace: Keyspace, *tasks: tuple[str, str, str]) -> list[str]:
    """Submit ``(tenant, skill, text)`` tasks, run them to review, return their ids."""
    ids = []
    with workers(Path(ops.swarm), REDIS_URL, keyspace.prefix):
        for tenant, skill, text in tasks:
            result = ops(
                "submit",
                "--tenant",
                tenant,
                "--skill",
                skill,
                "--input",
                json.dumps({"text": text}),
                "--wait",
                "--timeout",
                "30",
            )
            assert result.exit_code == 4, result.output  # waiting for review
            ids.append(result.stdout.split()[0])
    return ids


def audit(keyspace: Keyspace, task_id: str, tenant: str = "acme") -> list[dict[str, Any]]:
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    events = [json.loads(f["event"]) for _, f in client.xrange(keyspace.tenant(tenant).audit)]
    return [e for e in events if e.get("task_id") == task_id]


def test_show_gives_a_reviewer_what_they_need(ops: Ops, keyspace: Keyspace) -> None:
    [task_id] = parked(ops, keyspace, ("acme", "park", "refund twice"))
    text = ops("review show", task_id)
    assert text.exit_code == 0, text.output
    for expected in (
        f"task {task_id}  tenant acme",
        "attempt 1 of 2",
        "confidence 0.950",
        "judge (threshold): ",
        "sensitive",
        '"text": "refund twice"',
        "Answer refund twice.",
        '"answer": "yes"',
    ):
        assert expected in text.stdout
    shown = ops.json("review show", task_id)
    assert shown["input"] == {"text": "refund twice"}
    assert shown["prompt"] == "Answer refund twice."
    assert (shown["output"], shown["confidence"]) == ({"answer": "yes"}, 0.95)
    assert (shown["attempt"], shown["max_attempts"], shown["previous"]) == (1, 2, [])
    assert "sensitive" in shown["reason"]
    missing = ops("review show", "01ARZ3NDEKTSV4RRFFQ69G5FAV")
    assert missing.exit_code == 2
    assert "no result waits for review" in missing.stderr


def test_reject_with_retry_runs_again_with_the_feedback(ops: Ops, keyspace: Keyspace) -> None:
    [task_id] = parked(ops, keyspace, ("acme", "park", "a draft"))
    result = ops("review reject", task_id, "--reason", "too formal", "--retry", "--actor", "rita")
    assert (result.exit_code, result.stdout.strip()) == (0, f"{task_id}: retried")
    assert ops.json("results", "--task", task_id)["state"] == "pending"
    with workers(Path(ops.swarm), REDIS_URL, keyspace.prefix):
        _until(lambda: ops.json("results", "--task", task_id)["state"] == "review")
    shown = ops.json("review show", task_id)
    assert shown["attempt"] == 2
    assert shown["prompt"] == "Answer a draft. Reviewer said: too formal"
    [earlier] = shown["previous"]
    assert (earlier["attempt"], earlier["by"], earlier["feedback"]) == (
        1,
        "human:rita",
        "too formal",
    )
    assert json.loads(earlier["output"]) == {"answer": "yes"}
    assert "earlier attempt 1" in ops("review show", task_id).stdout
    types = [(e["type"], e["actor"]) for e in audit(keyspace, task_id)]
    assert ("human_decision", "human:rita") in types
    assert ("retried", "human:rita") in types
    decision = next(e for e in audit(keyspace, task_id) if e["type"] == "human_decision")
    assert decision["data"]["retry"] is True
    # Attempt 2 of 2: another retry is refused, and the item stays parked.
    refused = ops("review reject", task_id, "--reason", "again", "--retry")
    assert refused.exit_code == 2
    assert "is at attempt 2 of 2" in refused.stderr
    assert "cannot be tried again" in refused.stderr
    assert ops.json("results", "--task", task_id)["state"] == "review"
    denied = ops("review reject", task_id, "--reason", "enough")
    assert denied.stdout.strip() == f"{task_id}: denied"


def test_list_shows_input_and_age_and_filters(ops: Ops, keyspace: Keyspace) -> None:
    ids = parked(
        ops,
        keyspace,
        ("acme", "park", "one"),
        ("acme", "park", "two"),
        ("globex", "park", "three"),
    )
    rows = ops.json("review list")["review"]
    assert sorted(r["task_id"] for r in rows) == sorted(ids)
    first = next(r for r in rows if r["task_id"] == ids[0])
    assert first["input"] == {"text": "one"}
    assert first["input_summary"] == '{"text":"one"}'
    assert first["age_s"] >= 0
    table = ops("review list").stdout
    assert '{"text":"one"}' in table
    assert "age" in table
    assert len(ops.json("review list", "--tenant", "globex")["review"]) == 1
    assert len(ops.json("review list", "--skill", "park", "--newer-than", "1h")["review"]) == 3
    assert ops.json("review list", "--older-than", "1h")["review"] == []
    assert ops.json("review list", "--skill", "approve")["review"] == []
    bad = ops("review list", "--older-than", "soon")
    assert bad.exit_code == 2
    assert "is not a duration" in bad.output


def test_approve_all_by_filter_decides_each_item_on_its_own(ops: Ops, keyspace: Keyspace) -> None:
    acme = parked(ops, keyspace, ("acme", "park", "a"), ("acme", "park", "b"))
    [globex] = parked(ops, keyspace, ("globex", "park", "c"))
    assert ops("review approve").exit_code == 2
    hinted = ops("review approve", "--tenant", "acme")
    assert hinted.exit_code == 2
    assert "--all" in hinted.stderr
    assert ops("review approve", acme[0], "--all").exit_code == 2
    result = ops.json("review approve", "--all", "--tenant", "acme", "--skill", "park")
    assert sorted(row["task_id"] for row in result["decided"]) == sorted(acme)
    assert {row["outcome"] for row in result["decided"]} == {"committed"}
    for task_id in acme:
        kinds = [e["type"] for e in audit(keyspace, task_id) if e["actor"].startswith("human:")]
        assert kinds == ["human_decision", "committed"]
        assert ops.json("results", "--task", task_id)["state"] == "committed"
    assert [r["task_id"] for r in ops.json("review list")["review"]] == [globex]
    rejected = ops("review reject", "--all", "--reason", "stale", "--retry")
    assert rejected.stdout.strip() == f"{globex}: retried"


def _until(check: Any, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)
