"""``chimera run`` exit codes: 1 when a task was dead-lettered, 3 for ``--fail-on`` outcomes.

Runs on the embedded Redis with skills whose mock backend answers with a fixed confidence
(``approve`` commits, ``review`` is parked, ``deny`` is denied) or always fails (``broken``,
one attempt: dead-lettered).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from chimera.cli.app import cli

MOCKS = {
    "approve": {"confidence": 0.95},
    "review": {"confidence": 0.6},
    "deny": {"confidence": 0.1},
    "broken": {"failure_rate": 1.0},
}


@pytest.fixture
def swarm(tmp_path: Path) -> Path:
    (tmp_path / "skills").mkdir()
    for name, mock in MOCKS.items():
        skill = {
            "name": name,
            "prompt": "Summarise {{ text }}",
            "input_schema": {"type": "object", "properties": {"text": {"type": "string"}}},
            "output_schema": {"type": "object"},
            "mock": mock,
            "retry": {"max_attempts": 1},
        }
        (tmp_path / "skills" / f"{name}.yaml").write_text(json.dumps(skill), encoding="utf-8")
    path = tmp_path / "swarm.yaml"
    path.write_text(
        json.dumps(
            {
                "skills": ["skills/*.yaml"],
                "judge": {"approve_at": 0.8, "review_at": 0.5},
                "tenants": {"acme": {"skills": sorted(MOCKS)}},
            }
        ),
        encoding="utf-8",
    )
    return path


def run(swarm: Path, skills: list[str], *options: str) -> Result:
    tasks = swarm.parent / "tasks.jsonl"
    tasks.write_text(
        "".join(
            json.dumps({"tenant": "acme", "skill": s, "input": {"text": f"t{i}"}}) + "\n"
            for i, s in enumerate(skills)
        ),
        encoding="utf-8",
    )
    args = ["run", str(swarm), "--input", str(tasks), "--json", *options]
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def totals(result: Result) -> dict[str, int]:
    data: dict[str, int] = json.loads(result.stdout)["totals"]
    return data


def test_judge_outcomes_exit_0_by_default(swarm: Path) -> None:
    result = run(swarm, ["approve", "review", "deny"])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert totals(result)["denied"] == 1


def test_a_dead_lettered_task_exits_1_after_the_summary(swarm: Path) -> None:
    result = run(swarm, ["approve", "broken", "broken"])
    assert result.exit_code == 1, result.output
    assert totals(result)["dead_lettered"] == 2  # the summary is printed all the same
    assert result.stderr.splitlines() == ["error: 2 task(s) dead-lettered"]


@pytest.mark.parametrize(
    ("skills", "fail_on", "line"),
    [
        (["approve", "deny"], "denied", "failed: 1 denied (--fail-on denied)"),
        (["review", "review"], "denied,review", "failed: 2 review (--fail-on denied,review)"),
        (
            ["deny", "review"],
            " review , denied ",
            "failed: 1 denied, 1 review (--fail-on denied,review)",
        ),
    ],
)
def test_fail_on_exits_3_naming_the_outcomes(
    swarm: Path, skills: list[str], fail_on: str, line: str
) -> None:
    result = run(swarm, skills, "--fail-on", fail_on)
    assert result.exit_code == 3, result.output
    assert result.stderr.splitlines() == [line]
    assert totals(result)["tasks"] == len(skills)


def test_fail_on_outcomes_that_did_not_happen_exit_0(swarm: Path) -> None:
    result = run(swarm, ["approve", "review"], "--fail-on", "denied,dead_lettered")
    assert result.exit_code == 0, result.output


def test_dead_letters_win_over_fail_on(swarm: Path) -> None:
    result = run(swarm, ["deny", "broken"], "--fail-on", "denied")
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines() == ["error: 1 task(s) dead-lettered"]
