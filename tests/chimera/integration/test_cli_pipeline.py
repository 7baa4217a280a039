"""`chimera submit --pipeline`, `pipeline show|list` and `cancel --run` on a real Redis."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from click.testing import CliRunner, Result

from chimera.cli.app import cli
from chimera.lib.keys import Keyspace
from tests.chimera.ops_support import workers
from tests.chimera.pipeline_support import pipeline_yaml, write_project
from tests.conftest import REDIS_URL

CHAIN = """\
a: {skill: work, input: {text: "{{ input.text }}"}}
b: {skill: work, needs: [a], input: {text: "{{ steps.a.output.text }}"}}
"""


@pytest.fixture
def swarm(tmp_path: Path) -> Path:
    path = write_project(tmp_path, pipeline_yaml(CHAIN, "b"))
    path.write_text(
        path.read_text()
        + "judge: {policy: threshold, approve_at: 0.0, review_at: 0.0}\n"
        + "audit: {sinks: [redis]}\n"
    )
    return path


@pytest.fixture
def chimera(swarm: Path, keyspace: Keyspace, real_redis: aioredis.Redis) -> Any:
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        # A group's subcommand comes before the swarm file: `pipeline show SWARM RUN_ID`.
        head = 2 if args[0] in ("pipeline", "task") else 1
        argv = [*args[:head], str(swarm), *args[head:]]
        return runner.invoke(cli, [*argv, "--redis-url", REDIS_URL, "--prefix", keyspace.prefix])

    return invoke


def test_submit_wait_show_and_list_a_run(chimera: Any, swarm: Path, keyspace: Keyspace) -> None:
    with workers(swarm, REDIS_URL, keyspace.prefix, concurrency=4):
        result = chimera(
            "submit",
            "--pipeline",
            "p",
            "--tenant",
            "acme",
            "--input",
            '{"text": "hi"}',
            "--wait",
            "--timeout",
            "30",
            "--json",
        )
    assert result.exit_code == 0, result.output
    [run] = json.loads(result.stdout)["runs"]
    assert run["state"] == "succeeded"
    assert run["steps"] == {"a": "committed", "b": "committed"}
    assert run["tasks"] == 2
    shown = chimera("pipeline", "show", run["run_id"], "--json")
    assert shown.exit_code == 0, shown.output
    stored = json.loads(shown.stdout)
    assert stored["output"] == run["output"]
    assert stored["steps"]["b"]["tasks"][0]["output"] == run["output"]
    text = chimera("pipeline", "show", run["run_id"])
    assert f"run {run['run_id']} (p): succeeded" in text.stdout
    assert "committed" in text.stdout
    # A step's task tells its story like any task's, naming its run and step.
    step_b = stored["steps"]["b"]["tasks"][0]["task_id"]
    shown_task = chimera("task", "show", step_b, "--json")
    assert shown_task.exit_code == 0, shown_task.output
    story = json.loads(shown_task.stdout)
    assert story["pipeline"] == {"run": run["run_id"], "step": "b"}
    assert story["input"] == {"text": stored["steps"]["a"]["output"]["text"]}
    # The trail holds the run's own records and still verifies.
    audit = json.loads(
        chimera("audit", "--tenant", "acme", "--verify", "--limit", "0", "--json").stdout
    )
    kinds = [record["event"]["type"] for record in audit["events"]]
    assert kinds.count("run_started") == 1
    assert kinds.count("step_enqueued") == 2
    assert kinds.count("run_finished") == 1
    listed = json.loads(chimera("pipeline", "list", "--json").stdout)["runs"]
    assert [r["run_id"] for r in listed] == [run["run_id"]]
    assert run["run_id"] in chimera("pipeline", "list").stdout


def test_cancel_run_drops_its_queued_step(chimera: Any, tmp_path: Path) -> None:
    runs_file = tmp_path / "runs.jsonl"
    runs_file.write_text(json.dumps({"tenant": "acme", "input": {"text": "x"}}) + "\n")
    started = chimera("submit", "--pipeline", "p", "--file", str(runs_file))
    assert started.exit_code == 0, started.output
    run_id = started.stdout.strip()
    assert "started 1 run(s)" in started.stderr
    cancelled = chimera("cancel", "--run", run_id, "--reason", "not needed", "--json")
    assert cancelled.exit_code == 0, cancelled.output
    summary = json.loads(cancelled.stdout)
    assert (summary["state"], summary["reason"]) == ("cancelled", "not needed")
    assert summary["steps"] == {"a": "cancelled", "b": "cancelled"}
    # The queued task of step a was cancelled with it: nothing of it can commit.
    stored = json.loads(chimera("pipeline", "show", run_id, "--json").stdout)
    [task] = stored["steps"]["a"]["tasks"]
    status = json.loads(chimera("results", "--task", task["task_id"], "--json").stdout)
    assert status["state"] == "cancelled"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--pipeline", "nope", "--tenant", "acme", "--input", "{}"), "unknown pipeline 'nope'"),
        (("--pipeline", "p", "--tenant", "acme", "--input", "{}"), "'text' is a required"),
        (("--pipeline", "p", "--skill", "work", "--tenant", "acme", "--input", "{}"), "not both"),
        (("--pipeline", "p", "--input", "{}"), "needs --tenant and --input"),
    ],
)
def test_bad_pipeline_submissions_exit_2_with_one_line(
    chimera: Any, args: tuple[str, ...], message: str
) -> None:
    result = chimera("submit", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_an_unknown_run_is_one_line(chimera: Any) -> None:
    result = chimera("pipeline", "show", "01ARZ3NDEKTSV4RRFFQ69G5FAV")
    assert result.exit_code == 2, result.output
    assert "no pipeline run 01ARZ3NDEKTSV4RRFFQ69G5FAV" in result.stderr
