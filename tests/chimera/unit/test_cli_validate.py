"""``chimera validate`` and ``chimera schema`` through click's test runner."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from chimera.cli.app import cli

REPO = Path(__file__).resolve().parents[3]
PROBLEM_LINE = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): (?P<message>.+)$")


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    write(
        tmp_path / "skills" / "echo.yaml",
        """\
        name: echo
        prompt: "{{ text }}"
        input_schema: {type: object, properties: {text: {type: string}}}
        output_schema: {type: object}
        """,
    )
    return write(
        tmp_path / "swarm.yaml",
        """\
        skills: [skills/*.yaml]
        judge:
          aprove_at: 0.9
        tenants:
          acme:
            skills: [echo]
        """,
    )


# --- validate --------------------------------------------------------------------------


def test_validate_repo_swarm(runner: CliRunner) -> None:
    swarm = REPO / "swarm.yaml"
    result = runner.invoke(cli, ["validate", str(swarm)])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    summary = result.stdout.strip()
    assert summary.startswith(f"{swarm}: ok: 2 tenants (acme, globex), 7 skills ")
    assert (
        "(answer_order, answer_question, check_refund, classify, compose_reply, draft_reply, "
        "summarise)"
    ) in summary
    assert "policies: threshold" in summary
    assert summary.endswith("1 pipelines (answer_ticket), 15 jobs")
    assert len(result.stdout.splitlines()) == 1


def test_validate_json(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["validate", str(REPO / "swarm.yaml"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "swarm": "support-desk",
        "tenants": ["acme", "globex"],
        "skills": [
            "answer_order",
            "answer_question",
            "check_refund",
            "classify",
            "compose_reply",
            "draft_reply",
            "summarise",
        ],
        "policies": ["threshold"],
        "pipelines": ["answer_ticket"],
        "jobs": 15,
    }


def test_validate_counts_repeated_jobs(runner: CliRunner, tmp_path: Path) -> None:
    write(
        tmp_path / "skills" / "echo.yaml",
        """\
        name: echo
        prompt: "{{ text }}"
        input_schema: {type: object, properties: {text: {type: string}}}
        output_schema: {type: object}
        """,
    )
    swarm = write(
        tmp_path / "swarm.yaml",
        """\
        skills: [skills/*.yaml]
        tenants:
          solo: {skills: [echo]}
        jobs:
          - {tenant: solo, skill: echo, input: {text: a}, repeat: 5}
          - {tenant: solo, skill: echo, input: {text: b}}
        """,
    )
    result = runner.invoke(cli, ["validate", "--json", str(swarm)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["jobs"] == 6


def test_validate_broken_file(runner: CliRunner, broken: Path) -> None:
    result = runner.invoke(cli, ["validate", str(broken)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "Traceback" not in result.output
    [line] = result.stderr.splitlines()
    match = PROBLEM_LINE.match(line)
    assert match is not None, line
    assert match["file"] == str(broken)
    assert (int(match["line"]), int(match["col"])) == (3, 3)
    assert "unknown key 'aprove_at'; did you mean 'approve_at'?" in match["message"]


def test_validate_lists_every_problem_one_per_line(runner: CliRunner, tmp_path: Path) -> None:
    skill = write(
        tmp_path / "skills" / "echo.yaml",
        """\
        name: echo
        backend: nosuchbackend
        prompt: |
          {{ text }} {{ missing }}
        input_schema: {type: object, properties: {text: {type: string}}}
        output_schema: {type: object}
        """,
    )
    swarm = write(
        tmp_path / "swarm.yaml",
        """\
        skills: [skills/*.yaml, extra/*.yaml]
        judge: {policy: nosuchpolicy}
        tenants:
          acme: {skills: [echo]}
        audit: {sinks: [nosuchsink]}
        """,
    )
    result = runner.invoke(cli, ["validate", str(swarm)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    found = [PROBLEM_LINE.match(line) for line in result.stderr.splitlines()]
    assert all(found), result.stderr
    located = {(m["file"], int(m["line"])): m["message"] for m in found if m}
    assert "unknown backend 'nosuchbackend'" in located[(str(skill), 2)]
    assert "template variable 'missing'" in located[(str(skill), 4)]
    assert "no skill file matches 'extra/*.yaml'" in located[(str(swarm), 1)]
    assert "unknown policy 'nosuchpolicy'" in located[(str(swarm), 2)]
    assert "unknown audit sink 'nosuchsink'" in located[(str(swarm), 5)]


def test_validate_bad_yaml(runner: CliRunner, tmp_path: Path) -> None:
    swarm = write(tmp_path / "swarm.yaml", "skills: [a\ntenants: {}\n")
    result = runner.invoke(cli, ["validate", str(swarm)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    [line] = result.stderr.splitlines()
    assert line.startswith(f"{swarm}:")
    assert "invalid YAML" in line


def test_validate_missing_file(runner: CliRunner, tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    result = runner.invoke(cli, ["validate", str(missing)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert result.stderr.startswith(f"{missing}:1:1: cannot read file")


def test_validate_needs_an_argument(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["validate"])
    assert result.exit_code == 2
    assert "Missing argument 'SWARM'" in result.stderr


def test_validate_help(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["validate", "--help"])
    assert result.exit_code == 0
    assert "file:line:col" in result.stdout
    assert "--json" in result.stdout


# --- schema ----------------------------------------------------------------------------


def test_schema_prints_swarm_schema(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["schema"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "chimera swarm file"
    assert {"skills", "tenants", "judge", "jobs", "audit"} <= set(schema["properties"])
    assert schema["additionalProperties"] is False
    jsonschema.Draft202012Validator.check_schema(schema)


def test_schema_prints_skill_schema(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["schema", "skill"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    assert schema["title"] == "chimera skill file"
    assert {"name", "prompt", "input_schema", "output_schema"} <= set(schema["required"])
    jsonschema.Draft202012Validator.check_schema(schema)


def test_schema_rejects_an_unknown_kind(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["schema", "planet"])
    assert result.exit_code == 2
    assert "Invalid value" in result.stderr


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("swarm", REPO / "swarm.yaml"),
        ("skill", REPO / "skills" / "summarise.yaml"),
        ("skill", REPO / "skills" / "classify.yaml"),
        ("skill", REPO / "skills" / "draft_reply.yaml"),
        ("skill", REPO / "skills" / "answer_question.yaml"),
        ("skill", REPO / "skills" / "compose_reply.yaml"),
        ("skill", REPO / "skills" / "check_refund.yaml"),
    ],
)
def test_printed_schema_accepts_the_repo_files(runner: CliRunner, kind: str, path: Path) -> None:
    schema = json.loads(runner.invoke(cli, ["schema", kind]).stdout)
    jsonschema.validate(yaml.safe_load(path.read_text()), schema)


def test_printed_schema_rejects_an_unknown_key(runner: CliRunner) -> None:
    schema = json.loads(runner.invoke(cli, ["schema"]).stdout)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"skills": ["a"], "tenants": {"t": {"skills": ["a"]}}, "x": 1}, schema)


def test_schema_out_writes_both_files(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "schemas" / "nested"
    result = runner.invoke(cli, ["schema", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["skill.schema.json", "swarm.schema.json"]
    swarm_schema = json.loads((out / "swarm.schema.json").read_text())
    skill_schema = json.loads((out / "skill.schema.json").read_text())
    assert swarm_schema["title"] == "chimera swarm file"
    assert skill_schema["title"] == "chimera skill file"
    assert result.stdout.splitlines() == [
        f"wrote {out / 'swarm.schema.json'}",
        f"wrote {out / 'skill.schema.json'}",
    ]
    # Same content as the printed schema.
    printed = json.loads(runner.invoke(cli, ["schema", "skill"]).stdout)
    assert skill_schema == printed


def test_version_option(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.startswith("chimera, version ")
