"""The distributed commands through click's test runner, against a real Redis.

Every command gets ``--redis-url`` and this test's own ``--prefix``. The tests are plain
functions: each command runs its own event loop. ``real_redis`` is requested only to skip
(or fail, with ``CHIMERA_REQUIRE_REDIS=1``) where no Redis answers and to delete the
prefix's keys afterwards; a synchronous client inspects and tampers with the keys.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import redis
import redis.asyncio as aioredis
from click.testing import CliRunner, Result

from chimera.cli.app import cli
from chimera.lib.keys import Keyspace
from chimera.lib.redis_queue import RedisQueue
from chimera.ports.queue import DeadLetter
from tests.conftest import REDIS_URL

REPO = Path(__file__).resolve().parents[3]
SWARM = str(REPO / "swarm.yaml")
TASK_ID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
UNREACHABLE = "redis://127.0.0.1:1/0"

SUMMARISE = {"customer": "Dana", "message": "I was charged twice."}
CLASSIFY = {"subject": "Seats", "body": "How do we add seats?"}


class Chimera:
    """Invokes ``chimera`` with this test's Redis URL and prefix."""

    def __init__(self, prefix: str) -> None:
        self.runner = CliRunner()
        self.prefix = prefix

    def __call__(self, *args: str) -> Result:
        return self.runner.invoke(
            cli, [*args, "--redis-url", REDIS_URL, "--prefix", self.prefix], catch_exceptions=False
        )

    def ok(self, *args: str) -> str:
        result = self(*args)
        assert result.exit_code == 0, result.output
        return result.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json"))

    def status(self) -> dict[str, dict[str, Any]]:
        return self.status_of(SWARM)

    def status_of(self, swarm: str) -> dict[str, dict[str, Any]]:
        return {row["tenant"]: row for row in self.json("status", swarm)["tenants"]}

    def results(self, *args: str) -> list[dict[str, Any]]:
        return [
            json.loads(line) for line in self.ok("results", SWARM, *args, "--json").splitlines()
        ]

    def review(self) -> list[dict[str, Any]]:
        """The parked items, without their ages (they grow between two listings)."""
        rows: list[dict[str, Any]] = self.json("review", "list", SWARM)["review"]
        return [{k: v for k, v in row.items() if k not in ("age", "age_s")} for row in rows]

    def sessions(self, *args: str) -> dict[tuple[str, str], dict[str, Any]]:
        rows = self.json("session", "list", SWARM, *args)["sessions"]
        return {(row["tenant"], row["session"]): row for row in rows}

    def audit(self, tenant: str = "acme", *args: str) -> dict[str, Any]:
        data: dict[str, Any] = self.json("audit", SWARM, "--tenant", tenant, *args)
        return data

    def audit_events(self, tenant: str = "acme") -> list[dict[str, Any]]:
        """Every audit event of ``tenant``, oldest first (the records' ``event`` part)."""
        records = self.audit(tenant, "--limit", "0")["events"]
        assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
        return [r["event"] for r in records]


def audit_entries(client: redis.Redis, key: str) -> list[tuple[str, dict[str, str]]]:
    return cast("list[tuple[str, dict[str, str]]]", client.xrange(key))


def usage_error(result: Result) -> str:
    """Assert ``result`` is a one-line error with exit code 2 and no traceback; return it."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert result.stdout == ""
    return lines[0]


@pytest.fixture(autouse=True)
def restore_signal_handlers() -> Iterator[None]:
    """`chimera worker` installs SIGINT/SIGTERM handlers; keep them out of later tests."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


@pytest.fixture
def chimera(real_redis: aioredis.Redis, keyspace: Keyspace) -> Chimera:
    return Chimera(keyspace.prefix)


@pytest.fixture
def sync_redis(real_redis: aioredis.Redis) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def ran(chimera: Chimera, tmp_path: Path) -> dict[str, Any]:
    """The demo swarm run to completion, plus one more sensitive task (two reviews at least)."""
    extra = tmp_path / "extra.jsonl"
    extra.write_text(
        json.dumps(
            {
                "tenant": "acme",
                "skill": "draft_reply",
                "input": {"customer": "Lee", "topic": "export"},
            }
        )
        + "\n",
        encoding="utf-8",
    )
    report: dict[str, Any] = chimera.json("run", SWARM, "--input", str(extra))
    totals = report["totals"]
    jobs = json.loads(CliRunner().invoke(cli, ["validate", SWARM, "--json"]).stdout)["jobs"]
    # Pipeline jobs are runs: their step tasks are reported with the other tasks.
    steps = sum(run["tasks"] for run in report["runs"])
    assert totals["tasks"] == jobs - len(report["runs"]) + 1 + steps
    assert totals["review"] >= 2  # draft_reply is sensitive: always reviewed
    assert (
        totals["committed"] + totals["denied"] + totals["review"] + totals["dead_lettered"]
        == totals["tasks"]
    )
    return report


@pytest.fixture
def fixed_swarm(tmp_path: Path) -> str:
    """A swarm whose mock confidences are fixed: ``approve`` commits, ``review`` is parked,
    ``deny`` is denied, whatever the input (the demo's are a hash of the input)."""
    skills = tmp_path / "skills"
    skills.mkdir()
    for name, confidence in (("approve", 0.95), ("review", 0.6), ("deny", 0.1)):
        skill = {
            "name": name,
            "prompt": "Summarise {{ text }}",
            "input_schema": {
                "type": "object",
                "required": ["text"],
                "properties": {"text": {"type": "string"}},
            },
            "output_schema": {
                "type": "object",
                "required": ["summary"],
                "properties": {"summary": {"type": "string"}},
            },
            "mock": {"confidence": confidence},
        }
        (skills / f"{name}.yaml").write_text(json.dumps(skill), encoding="utf-8")
    swarm = {
        "version": 1,
        "skills": ["skills/*.yaml"],
        "judge": {"approve_at": 0.8, "review_at": 0.5},
        "tenants": {
            "acme": {"skills": ["approve", "review", "deny"]},
            "globex": {"skills": ["approve"]},
        },
        "audit": {"sinks": ["redis"]},
    }
    path = tmp_path / "swarm.yaml"
    path.write_text(json.dumps(swarm), encoding="utf-8")
    return str(path)


def jsonl(path: Path, rows: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def queued(chimera: Chimera) -> dict[str, int]:
    return {tenant: row["tasks"] for tenant, row in chimera.status().items()}


# --- submit ----------------------------------------------------------------------------


def test_submit_one_task_prints_its_id(
    chimera: Chimera, sync_redis: redis.Redis, keyspace: Keyspace
) -> None:
    out = chimera.ok(
        "submit",
        SWARM,
        "--tenant",
        "acme",
        "--skill",
        "summarise",
        "--input",
        json.dumps(SUMMARISE),
    )
    [task_id] = out.splitlines()
    assert TASK_ID.match(task_id)
    assert queued(chimera) == {"acme": 1, "globex": 0}
    task = json.loads(sync_redis.hget(keyspace.tenant("acme").ledger, task_id) or "{}")
    assert (task["skill"], task["input"]) == ("summarise", SUMMARISE)


def test_submit_json_reports_ids_and_session(chimera: Chimera) -> None:
    data = chimera.json(
        "submit",
        SWARM,
        "--tenant",
        "globex",
        "--skill",
        "classify",
        "--input",
        json.dumps(CLASSIFY),
        "--session",
        "batch-7",
    )
    [row] = data["submitted"]
    assert (row["tenant"], row["skill"], row["session"]) == ("globex", "classify", "batch-7")
    assert TASK_ID.match(row["task_id"])
    session = chimera.sessions("--tenant", "globex")[("globex", "batch-7")]
    assert (session["submitted"], session["state"]) == (1, "running")
    assert queued(chimera) == {"acme": 0, "globex": 1}


def test_submit_file_in_batches_fills_defaults(chimera: Chimera, tmp_path: Path) -> None:
    lines = [json.dumps({"skill": "summarise", "input": SUMMARISE}) for _ in range(520)]
    lines += [json.dumps({"tenant": "globex", "skill": "classify", "input": CLASSIFY})] * 90
    lines.insert(3, "   ")  # blank lines are skipped
    path = tmp_path / "tasks.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    data = chimera.json(
        "submit", SWARM, "--file", str(path), "--tenant", "acme", "--session", "bulk"
    )
    submitted = data["submitted"]
    assert len(submitted) == 610
    assert len({row["task_id"] for row in submitted}) == 610
    assert [row["tenant"] for row in submitted] == ["acme"] * 520 + ["globex"] * 90
    assert queued(chimera) == {"acme": 520, "globex": 90}
    sessions = chimera.sessions()
    assert sessions[("acme", "bulk")]["submitted"] == 520
    assert sessions[("globex", "bulk")]["submitted"] == 90


def test_submit_invalid_json_is_one_line_and_exit_2(chimera: Chimera) -> None:
    result = chimera(
        "submit", SWARM, "--tenant", "acme", "--skill", "summarise", "--input", '{"customer": '
    )
    line = usage_error(result)
    assert line.startswith("error: --input:")
    assert "invalid JSON" in line
    assert queued(chimera) == {"acme": 0, "globex": 0}


def test_submit_input_must_be_an_object(chimera: Chimera) -> None:
    result = chimera("submit", SWARM, "--tenant", "acme", "--skill", "summarise", "--input", "[1]")
    assert usage_error(result) == "error: --input must be a JSON object"


def test_submit_needs_tenant_skill_and_input_or_a_file(chimera: Chimera) -> None:
    result = chimera("submit", SWARM, "--tenant", "acme", "--skill", "summarise")
    assert usage_error(result) == "error: give --tenant, --skill and --input, or --file"


def test_submit_file_with_bad_line_names_file_and_line(chimera: Chimera, tmp_path: Path) -> None:
    path = tmp_path / "tasks.jsonl"
    good = json.dumps({"tenant": "acme", "skill": "summarise", "input": SUMMARISE})
    path.write_text(f"{good}\n{{oops\n{good}\n", encoding="utf-8")
    line = usage_error(chimera("submit", SWARM, "--file", str(path)))
    assert line.startswith(f"error: {path}:2:")
    assert "invalid JSON" in line
    assert queued(chimera) == {"acme": 0, "globex": 0}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[1, 2]\n", "{path}:1: expected a JSON object"),
        (
            '{"tenant": "acme", "skill": "summarise", "input": {}, "priority": 1}\n',
            "{path}:1: unknown field(s) priority; expected ['input', 'session', 'skill', 'tenant']",
        ),
        ('\n{"tenant": "acme", "input": {}}\n', "{path}:2: missing field(s) skill"),
    ],
    ids=["not-an-object", "unknown-field", "missing-field"],
)
def test_submit_file_problems_name_file_and_line(
    tmp_path: Path, content: str, message: str
) -> None:
    # Checked before connecting: no Redis needed, and the bad URL is never reached.
    path = tmp_path / "tasks.jsonl"
    path.write_text(content, encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["submit", SWARM, "--file", str(path), "--redis-url", UNREACHABLE]
    )
    assert usage_error(result) == "error: " + message.format(path=path)


def test_submit_unreadable_file_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "missing.jsonl"
    result = CliRunner().invoke(
        cli, ["submit", SWARM, "--file", str(missing), "--redis-url", UNREACHABLE]
    )
    line = usage_error(result)
    assert line.startswith(f"error: {missing}: cannot read: ")
    assert "No such file" in line


def test_submit_unknown_tenant_exits_2(chimera: Chimera) -> None:
    result = chimera(
        "submit",
        SWARM,
        "--tenant",
        "initech",
        "--skill",
        "summarise",
        "--input",
        json.dumps(SUMMARISE),
    )
    line = usage_error(result)
    assert "unknown tenant 'initech'" in line
    assert queued(chimera) == {"acme": 0, "globex": 0}


def test_submit_input_breaking_the_schema_enqueues_nothing(
    chimera: Chimera, tmp_path: Path
) -> None:
    path = tmp_path / "tasks.jsonl"
    rows = [
        {"tenant": "acme", "skill": "summarise", "input": SUMMARISE},
        {"tenant": "globex", "skill": "classify", "input": CLASSIFY},
        {"tenant": "acme", "skill": "summarise", "input": {"customer": "Dana"}},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    line = usage_error(chimera("submit", SWARM, "--file", str(path)))
    assert line.startswith(f"error: {path}:3: input does not match skill 'summarise'")
    assert "message" in line
    status = chimera.status()
    assert {t: (row["tasks"], row["committed"]) for t, row in status.items()} == {
        "acme": (0, 0),
        "globex": (0, 0),
    }
    assert chimera.sessions() == {}


def test_submit_skill_the_tenant_may_not_run_exits_2(chimera: Chimera) -> None:
    result = chimera(
        "submit",
        SWARM,
        "--tenant",
        "globex",
        "--skill",
        "draft_reply",
        "--input",
        json.dumps({"customer": "Mia", "topic": "seats"}),
    )
    assert "tenant 'globex' may not run skill 'draft_reply'" in usage_error(result)


# --- run, status, results --------------------------------------------------------------


def test_status_and_results_after_a_run(chimera: Chimera, ran: dict[str, Any]) -> None:
    status = chimera.status()
    assert set(status) == {"acme", "globex"}
    committed = sum(row["committed"] for row in status.values())
    assert committed == ran["totals"]["committed"]
    assert sum(row["review"] for row in status.values()) == ran["totals"]["review"]
    for row in status.values():
        assert (row["tasks"], row["tasks_pending"], row["results"], row["results_pending"]) == (
            0,
            0,
            0,
            0,
        )
        assert row["dead_lettered"] == 0
    results = chimera.results()
    assert len(results) == committed
    assert len({r["task_id"] for r in results}) == committed
    assert {r["session"] for r in results} == {ran["session"]}
    assert all(r["status"] == "succeeded" and r["output"] for r in results)


def test_results_filters_by_tenant_and_session(chimera: Chimera, ran: dict[str, Any]) -> None:
    acme = chimera.results("--tenant", "acme", "--session", ran["session"])
    assert len(acme) == chimera.status()["acme"]["committed"]
    assert acme
    assert {r["tenant"] for r in acme} == {"acme"}
    assert chimera.results("--tenant", "acme", "--session", "someone-else") == []
    table = chimera.ok("results", SWARM, "--tenant", "acme", "--session", ran["session"])
    assert "Committed results" in table
    assert all(r["task_id"] in table for r in acme)
    empty = chimera.ok("results", SWARM, "--session", "someone-else")
    assert empty.strip() == "Committed results: none"


def test_results_unknown_tenant_exits_2(chimera: Chimera) -> None:
    assert usage_error(chimera("results", SWARM, "--tenant", "initech")) == (
        "error: unknown tenant 'initech' (known: acme, globex)"
    )


def test_status_table_lists_every_tenant(chimera: Chimera, ran: dict[str, Any]) -> None:
    out = chimera.ok("status", SWARM)
    assert "Tenants" in out
    assert "acme" in out
    assert "globex" in out
    assert "committed" in out
    assert "dead_lettered" in out


def test_run_table_and_out_file(chimera: Chimera, tmp_path: Path) -> None:
    tasks = tmp_path / "in.jsonl"
    tasks.write_text(
        json.dumps(
            {"tenant": "acme", "skill": "draft_reply", "input": {"customer": "A", "topic": "b"}}
        )
        + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    text = chimera.ok("run", SWARM, "--no-jobs", "--input", str(tasks), "--out", str(out))
    assert "1 tasks in" in text
    assert "0 committed, 0 denied, 1 waiting for review, 0 dead-lettered" in text
    assert "chimera review list SWARM" in text
    [line] = out.read_text(encoding="utf-8").splitlines()
    outcome = json.loads(line)
    assert (outcome["tenant"], outcome["skill"], outcome["outcome"]) == (
        "acme",
        "draft_reply",
        "review",
    )


def test_run_with_nothing_to_do_exits_2(chimera: Chimera) -> None:
    line = usage_error(chimera("run", SWARM, "--no-jobs"))
    assert line == "error: nothing to run: the swarm has no jobs and no --input was given"


def test_worker_options_that_exclude_each_other_exit_2() -> None:
    result = CliRunner().invoke(
        cli, ["worker", SWARM, "--no-judge", "--judge-only", "--redis-url", UNREACHABLE]
    )
    assert usage_error(result) == "error: --no-judge and --judge-only exclude each other"


def test_run_on_the_embedded_redis_says_where_reviews_went(
    keyspace: Keyspace, tmp_path: Path
) -> None:
    # No --redis-url: the in-process Redis, which is gone when the command returns.
    rows = [{"tenant": "acme", "skill": "draft_reply", "input": {"customer": "A", "topic": "b"}}]
    args = ["run", SWARM, "--no-jobs", "--input", jsonl(tmp_path / "in.jsonl", rows)]
    result = CliRunner().invoke(cli, [*args, "--prefix", keyspace.prefix], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "1 waiting for review" in result.stdout
    assert "This run used the embedded Redis" in result.stdout
    assert "--redis-url URL" in result.stdout


def test_worker_rejects_unknown_tenants_before_starting(chimera: Chimera) -> None:
    line = usage_error(
        chimera("worker", SWARM, "--tenant", "acme", "--tenant", "initech", "--tenant", "x")
    )
    assert line == "error: unknown tenants 'initech', 'x' (known: acme, globex)"


def task_ids(text: str) -> set[str]:
    """The ULIDs in a run's output, less the session's."""
    session = re.search(r"Session ([0-9A-Z]{26})", text)
    assert session is not None
    return set(re.findall(r"\b[0-9A-HJKMNP-TV-Z]{26}\b", text)) - {session.group(1)}


def test_run_of_many_tasks_lists_fifty_and_says_how_to_see_all(
    chimera: Chimera, fixed_swarm: str, tmp_path: Path
) -> None:
    rows = [{"tenant": "acme", "skill": "approve", "input": {"text": f"t{i}"}} for i in range(51)]
    tasks = jsonl(tmp_path / "in.jsonl", rows)
    text = chimera.ok("run", fixed_swarm, "--input", tasks)
    assert "51 tasks in" in text
    assert "51 committed, 0 denied, 0 waiting for review, 0 dead-lettered" in text
    assert "wait for a human" not in text
    assert "50 of 51 tasks listed: --all lists every one" in text
    assert len(task_ids(text)) == 50  # whole ids, one table row per listed task
    assert chimera.status_of(fixed_swarm)["acme"]["committed"] == 51
    everything = chimera.ok("run", fixed_swarm, "--input", tasks, "--all")
    assert len(task_ids(everything)) == 51
    assert "tasks listed" not in everything


def test_worker_settles_submitted_tasks_and_stops_on_sigterm(
    chimera: Chimera, fixed_swarm: str, sync_redis: redis.Redis, keyspace: Keyspace, tmp_path: Path
) -> None:
    rows = [{"tenant": "acme", "skill": "approve", "input": {"text": f"t{i}"}} for i in range(3)]
    rows += [
        {"tenant": "acme", "skill": "review", "input": {"text": "r"}},
        {"tenant": "acme", "skill": "deny", "input": {"text": "d"}},
        {"tenant": "globex", "skill": "approve", "input": {"text": "g"}},
    ]
    chimera.ok("submit", fixed_swarm, "--file", jsonl(tmp_path / "tasks.jsonl", rows))
    keys = keyspace.tenant("acme")

    def settled() -> bool:
        return int(sync_redis.hlen(keys.settled)) + int(sync_redis.hlen(keys.review)) >= 5

    before = signal.getsignal(signal.SIGTERM)
    sent = threading.Event()

    def stop_when_settled() -> None:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not settled():
            time.sleep(0.02)
        # Signal only while the worker's own handler is installed, never the test runner.
        if signal.getsignal(signal.SIGTERM) is not before:
            sent.set()
            os.kill(os.getpid(), signal.SIGTERM)

    watcher = threading.Thread(target=stop_when_settled, daemon=True)
    watcher.start()
    result = chimera(
        "--log-level", "ERROR", "worker", fixed_swarm, "--tenant", "acme", "--grace", "1"
    )
    watcher.join(timeout=6)
    assert sent.is_set()
    assert result.exit_code == 0, result.output
    status = chimera.status_of(fixed_swarm)
    acme, globex = status["acme"], status["globex"]
    assert (acme["committed"], acme["review"], acme["tasks"], acme["tasks_pending"]) == (3, 1, 0, 0)
    assert acme["results_pending"] == 0
    assert sync_redis.hvals(keys.settled).count("denied") == 1
    # --tenant acme: globex's task is still waiting for a worker.
    assert (globex["tasks"], globex["committed"]) == (1, 0)


# --- review ----------------------------------------------------------------------------


def test_review_list_matches_the_run(chimera: Chimera, ran: dict[str, Any]) -> None:
    items = chimera.review()
    assert len(items) == ran["totals"]["review"]
    drafts = [i for i in items if i["skill"] == "draft_reply"]
    assert len(drafts) == 2
    for item in drafts:
        assert item["tenant"] == "acme"
        assert item["session"] == ran["session"]
        assert "sensitive" in item["reason"]
        assert set(item["output"]) == {"subject", "body"}
    only_globex = chimera.json("review", "list", SWARM, "--tenant", "globex")["review"]
    assert {i["tenant"] for i in only_globex} <= {"globex"}
    assert len(only_globex) == len(items) - len([i for i in items if i["tenant"] == "acme"])
    table = chimera.ok("review", "list", SWARM)
    assert "Waiting for review" in table
    assert all(i["task_id"] in table for i in items)


def test_review_approve_commits_and_is_audited(chimera: Chimera, ran: dict[str, Any]) -> None:
    item = next(i for i in chimera.review() if i["skill"] == "draft_reply")
    task_id = item["task_id"]
    committed_before = chimera.status()["acme"]["committed"]
    out = chimera.ok("review", "approve", SWARM, task_id, "--note", "x", "--actor", "tess")
    assert out.strip() == f"{task_id}: committed"
    [result] = [r for r in chimera.results("--tenant", "acme") if r["task_id"] == task_id]
    assert result["output"] == item["output"]
    assert task_id not in {i["task_id"] for i in chimera.review()}
    assert chimera.status()["acme"]["committed"] == committed_before + 1
    events = [e for e in chimera.audit_events("acme") if e["task_id"] == task_id]
    human = [e for e in events if e["actor"] == "human:tess"]
    assert [e["type"] for e in human] == ["human_decision", "committed"]
    assert human[0]["data"]["verdict"] == "approve"
    assert human[0]["data"]["note"] == "x"
    # The same id again: nothing waits under it any more.
    again = usage_error(chimera("review", "approve", SWARM, task_id, "--actor", "tess"))
    assert f"no result waits for review under task id {task_id}" in again


def test_review_reject_denies(chimera: Chimera, ran: dict[str, Any]) -> None:
    item = next(i for i in chimera.review() if i["skill"] == "draft_reply")
    task_id = item["task_id"]
    out = chimera.ok("review", "reject", SWARM, task_id, "--reason", "r", "--actor", "tess")
    assert out.strip() == f"{task_id}: denied"
    assert task_id not in {r["task_id"] for r in chimera.results()}
    assert task_id not in {i["task_id"] for i in chimera.review()}
    events = [e for e in chimera.audit_events("acme") if e["task_id"] == task_id]
    assert [e["type"] for e in events if e["actor"] == "human:tess"] == ["human_decision", "denied"]
    assert events[-2]["data"]["note"] == "r"


def test_review_reject_needs_a_reason(chimera: Chimera) -> None:
    result = chimera("review", "reject", SWARM, "01ARZ3NDEKTSV4RRFFQ69G5FAV")
    assert result.exit_code == 2
    assert "--reason" in result.stderr


def test_review_of_an_unknown_id_exits_2(chimera: Chimera, ran: dict[str, Any]) -> None:
    before = chimera.review()
    line = usage_error(
        chimera("review", "approve", SWARM, "01ARZ3NDEKTSV4RRFFQ69G5FAV", "--actor", "t")
    )
    assert line == "error: no result waits for review under task id 01ARZ3NDEKTSV4RRFFQ69G5FAV"
    assert chimera.review() == before


def test_review_list_unknown_tenant_exits_2(chimera: Chimera) -> None:
    line = usage_error(chimera("review", "list", SWARM, "--tenant", "initech"))
    assert line == "error: unknown tenant 'initech' (known: acme, globex)"


# --- audit -----------------------------------------------------------------------------


def test_audit_verify_passes_after_a_run(chimera: Chimera, ran: dict[str, Any]) -> None:
    result = chimera("audit", SWARM, "--tenant", "acme", "--verify")
    assert result.exit_code == 0, result.output
    records = chimera.audit("acme")["records"]
    assert f"chain verified: {records} records" in result.stdout
    assert "Audit trail of acme" in result.stdout


def test_audit_verify_names_a_deleted_entry(
    chimera: Chimera, ran: dict[str, Any], sync_redis: redis.Redis, keyspace: Keyspace
) -> None:
    key = keyspace.tenant("acme").audit
    entries = audit_entries(sync_redis, key)
    entry_id, fields = entries[len(entries) // 2]
    sync_redis.xdel(key, entry_id)
    result = chimera("audit", SWARM, "--tenant", "acme", "--verify")
    assert result.exit_code == 1
    seq = int(fields["seq"])
    assert result.stderr.startswith(f"audit chain broken at seq {seq}: ")
    assert f"expected seq {seq}, found {seq + 1}" in result.stderr
    assert "chain verified" not in result.stdout
    assert chimera.audit("acme")["records"] == len(entries) - 1


def test_audit_verify_names_an_altered_entry(
    chimera: Chimera, ran: dict[str, Any], sync_redis: redis.Redis, keyspace: Keyspace
) -> None:
    key = keyspace.tenant("acme").audit
    entry_id, fields = audit_entries(sync_redis, key)[-1]
    event = json.loads(fields["event"])
    event["actor"] = "mallory"
    sync_redis.xdel(key, entry_id)
    forged: dict[Any, Any] = {**fields, "event": json.dumps(event)}
    sync_redis.xadd(key, forged)
    result = chimera("audit", SWARM, "--tenant", "acme", "--verify", "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["verified"] is False
    assert data["broken_at"] == int(fields["seq"])
    assert "hash does not match" in data["problem"]
    assert f"audit chain broken at seq {fields['seq']}" in result.stderr


def test_audit_json_lists_the_last_events(chimera: Chimera, ran: dict[str, Any]) -> None:
    everything = chimera.audit("globex", "--limit", "0", "--verify")
    assert everything["tenant"] == "globex"
    assert everything["verified"] is True
    assert everything["broken_at"] is None
    total = everything["records"]
    assert [r["seq"] for r in everything["events"]] == list(range(1, total + 1))
    events = [r["event"] for r in everything["events"]]
    assert {e["tenant"] for e in events} == {"globex"}
    types = {e["type"] for e in events}
    assert {"submitted", "decision"} <= types
    last = chimera.audit("globex", "--limit", "3")
    assert last["verified"] is False  # not asked to verify
    assert last["records"] == total
    assert last["events"] == everything["events"][-3:]


def test_audit_unknown_tenant_exits_2(chimera: Chimera) -> None:
    line = usage_error(chimera("audit", SWARM, "--tenant", "initech"))
    assert "unknown tenant 'initech'" in line


# --- sessions --------------------------------------------------------------------------


def test_session_halt_and_resume(chimera: Chimera, ran: dict[str, Any]) -> None:
    session = ran["session"]
    sessions = chimera.sessions()
    assert set(sessions) == {("acme", session), ("globex", session)}
    acme = sessions[("acme", session)]
    acme_tasks = sum(row["tasks"] for row in ran["by_tenant_skill"] if row["tenant"] == "acme")
    assert (acme["submitted"], acme["state"]) == (acme_tasks, "completed")
    assert chimera.ok("session", "halt", SWARM, session, "--tenant", "acme").strip() == (
        f"acme/{session}: halted"
    )
    sessions = chimera.sessions()
    assert sessions[("acme", session)]["state"] == "halted"
    assert sessions[("globex", session)]["state"] == "completed"
    assert chimera.ok("session", "resume", SWARM, session, "--tenant", "acme").strip() == (
        f"acme/{session}: running"
    )
    # Resumed and every task settled: reads as completed again.
    assert chimera.sessions("--tenant", "acme")[("acme", session)]["state"] == "completed"
    table = chimera.ok("session", "list", SWARM)
    assert "Sessions" in table
    assert session in table


def test_session_halt_of_unknown_session_or_tenant_exits_2(chimera: Chimera) -> None:
    line = usage_error(chimera("session", "halt", SWARM, "nope", "--tenant", "acme"))
    assert line == "error: tenant 'acme' has no session 'nope'"
    line = usage_error(chimera("session", "resume", SWARM, "nope", "--tenant", "initech"))
    assert line == "error: unknown tenant 'initech' (known: acme, globex)"
    assert chimera.sessions() == {}


# --- dead letters ----------------------------------------------------------------------


def test_dlq_is_empty_after_a_clean_run(chimera: Chimera, ran: dict[str, Any]) -> None:
    assert chimera.json("dlq", "list", SWARM) == {"dead_letters": []}
    assert chimera.ok("dlq", "list", SWARM).strip() == "Dead letters: none"
    assert (
        chimera.ok("dlq", "replay", SWARM, "--all", "--actor", "t").strip() == "replayed 0 task(s)"
    )


def test_dlq_replay_needs_ids_or_all(chimera: Chimera) -> None:
    assert (
        usage_error(chimera("dlq", "replay", SWARM))
        == "error: name dead letters by id, or pass --all"
    )
    line = usage_error(chimera("dlq", "replay", SWARM, "nope", "--actor", "t"))
    assert line == "error: no dead letter matches nope"


def test_dlq_lists_and_replays_a_dead_letter(chimera: Chimera, keyspace: Keyspace) -> None:
    data = chimera.json(
        "submit",
        SWARM,
        "--tenant",
        "acme",
        "--skill",
        "summarise",
        "--input",
        json.dumps(SUMMARISE),
    )
    task_id = data["submitted"][0]["task_id"]

    async def dead_letter_it() -> None:
        client = aioredis.from_url(REDIS_URL, decode_responses=True)
        try:
            queue = RedisQueue(client, keyspace)
            [delivery] = await queue.read_tasks("w1", ["acme"], count=5, block_ms=10)
            await queue.dead_letter([(delivery, DeadLetter("max attempts", 3, "boom"))])
        finally:
            await client.aclose()

    asyncio.run(dead_letter_it())
    [row] = chimera.json("dlq", "list", SWARM)["dead_letters"]
    assert (row["tenant"], row["task_id"], row["skill"]) == ("acme", task_id, "summarise")
    assert (row["reason"], row["attempts"], row["last_error"]) == ("max attempts", 3, "boom")
    assert chimera.status()["acme"]["dead_lettered"] == 1
    assert chimera.json("dlq", "list", SWARM, "--tenant", "globex") == {"dead_letters": []}
    out = chimera.ok("dlq", "replay", SWARM, task_id, "--actor", "tess")
    assert out.strip() == "replayed 1 task(s)"
    status = chimera.status()["acme"]
    assert (status["dead_lettered"], status["tasks"]) == (0, 1)
    events = chimera.audit_events("acme")
    assert [e["type"] for e in events if e["actor"] == "human:tess"] == ["replayed"]


# --- plugins and connection errors -----------------------------------------------------


def builtin_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    [row] = [r for r in rows if r["name"] == "chimera.plugins.builtins"]
    return row


def test_plugins_lists_the_builtins() -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["plugins", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    row = builtin_row(json.loads(result.stdout)["plugins"])
    assert row["builtin"] is True
    assert (row["backends"], row["policies"], row["sinks"]) == (
        ["mock"],
        ["threshold"],
        ["log", "redis"],
    )
    table = runner.invoke(cli, ["plugins"], catch_exceptions=False)
    assert table.exit_code == 0
    builtin_line = next(
        line for line in table.stdout.splitlines() if "chimera.plugins.builtins" in line
    )
    assert "mock" in builtin_line
    assert "threshold" in builtin_line
    assert "log, redis" in builtin_line


def test_console_script_entry_point(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from chimera.cli import main

    monkeypatch.setattr(sys, "argv", ["chimera", "plugins", "--json"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 0
    row = builtin_row(json.loads(capsys.readouterr().out)["plugins"])
    assert row["backends"] == ["mock"]


@pytest.mark.parametrize(
    "args",
    [
        ["status", SWARM],
        ["results", SWARM],
        [
            "submit",
            SWARM,
            "--tenant",
            "acme",
            "--skill",
            "summarise",
            "--input",
            json.dumps(SUMMARISE),
        ],
        ["review", "list", SWARM],
        ["dlq", "list", SWARM],
        ["session", "list", SWARM],
        ["audit", SWARM, "--tenant", "acme"],
        ["run", SWARM],
    ],
    ids=lambda args: " ".join(a for a in args[:2] if a != SWARM),
)
def test_unreachable_redis_is_one_line_naming_the_url(args: list[str]) -> None:
    result = CliRunner().invoke(cli, [*args, "--redis-url", UNREACHABLE], catch_exceptions=False)
    line = usage_error(result)
    assert line.startswith(f"error: cannot reach Redis at {UNREACHABLE}: ")
