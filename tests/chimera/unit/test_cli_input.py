"""Bad input to the commands: one line on stderr, exit 2, never a traceback.

Everything here is checked before a command connects, so the Redis URL is one nobody
answers at (or no URL at all: the embedded Redis) and no server is needed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from chimera.cli.app import cli

REPO = Path(__file__).resolve().parents[3]
SWARM = str(REPO / "swarm.yaml")
UNREACHABLE = "redis://app:s3cret-pw@127.0.0.1:1/0"
SUMMARISE = {"customer": "Dana", "message": "I was charged twice."}
DEEP = '{"customer": "a", "message": ' + "[" * 30_000 + "]" * 30_000 + "}"


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def one_line(result: Result, code: int = 2) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert result.stdout == ""
    return lines[0]


def submit_file(path: Path) -> Result:
    return invoke("submit", SWARM, "--file", str(path), "--redis-url", UNREACHABLE)


def run_input(path: Path) -> Result:
    return invoke("run", SWARM, "--no-jobs", "--input", str(path))


def line(**fields: object) -> str:
    return json.dumps({"tenant": "acme", "skill": "summarise", "input": SUMMARISE, **fields})


@pytest.mark.parametrize("command", [submit_file, run_input], ids=["submit", "run"])
def test_a_file_that_is_not_utf8_names_line_and_column(tmp_path: Path, command: object) -> None:
    path = tmp_path / "tasks.jsonl"
    path.write_bytes(line().encode() + b"\n\n" + b'{"tenant": "\xff\xfe"}\n')
    text = one_line(command(path))  # type: ignore[operator]
    assert text == f"error: {path}:3:13: not UTF-8 text (byte 0xff)"


@pytest.mark.parametrize("command", [submit_file, run_input], ids=["submit", "run"])
def test_json_nested_30000_deep_in_a_file_is_one_line(tmp_path: Path, command: object) -> None:
    path = tmp_path / "tasks.jsonl"
    path.write_text(f"{line()}\n{DEEP}\n", encoding="utf-8")
    text = one_line(command(path))  # type: ignore[operator]
    assert text == f"error: {path}:2: invalid JSON: nested too deeply"


def test_json_nested_30000_deep_in_input_is_one_line() -> None:
    result = invoke(
        "submit", SWARM, "--tenant", "acme", "--skill", "summarise", "--input", DEEP,
        "--redis-url", UNREACHABLE,
    )  # fmt: skip
    assert one_line(result) == "error: --input: invalid JSON: nested too deeply"


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_json_numbers_are_refused(constant: str) -> None:
    result = invoke(
        "submit", SWARM, "--tenant", "acme", "--skill", "summarise",
        "--input", f'{{"customer": "a", "message": {constant}}}', "--redis-url", UNREACHABLE,
    )  # fmt: skip
    assert one_line(result) == f"error: --input: invalid JSON: {constant} is not JSON"


@pytest.mark.parametrize("command", [submit_file, run_input], ids=["submit", "run"])
def test_a_file_without_tasks_is_an_error(tmp_path: Path, command: object) -> None:
    for path in (Path("/dev/null"), tmp_path / "blank.jsonl"):
        if path.name == "blank.jsonl":
            path.write_text("\n   \n\n", encoding="utf-8")
        text = one_line(command(path))  # type: ignore[operator]
        assert text == f"error: {path}: no tasks in this file"


def test_run_input_errors_name_the_file_line(tmp_path: Path) -> None:
    path = tmp_path / "tasks.jsonl"
    path.write_text(f"\n{line()}\n\n{{oops\n", encoding="utf-8")
    assert one_line(run_input(path)).startswith(f"error: {path}:4:2: invalid JSON: ")


def test_run_schema_errors_name_the_file_line_past_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "tasks.jsonl"
    bad = json.dumps({"tenant": "acme", "skill": "summarise", "input": {"customer": "x"}})
    path.write_text(f"\n\n{line()}\n\n   \n{line()}\n{bad}\n", encoding="utf-8")
    text = one_line(run_input(path))
    assert text.startswith(f"error: {path}:7: input does not match skill 'summarise': ")
    assert "'message' is a required property" in text


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://u:s3cret-pw@127.0.0.1:6379/0", "the scheme must be redis://, rediss://, unix:// or redis+cluster://"),
        ("redis://u:s3cret-pw@127.0.0.1:99999/0", "Port out of range 0-65535"),
        ("redis://[::1", "Invalid IPv6 URL"),
    ],
)  # fmt: skip
@pytest.mark.parametrize(
    "args",
    [
        ["status", SWARM],
        ["run", SWARM],
        ["worker", SWARM],
        ["submit", SWARM, "--tenant", "acme", "--skill", "summarise", "--input", "{}"],
        ["audit", SWARM, "--tenant", "acme"],
    ],
    ids=lambda args: args[0],
)
def test_unusable_redis_urls_are_one_line(args: list[str], url: str, problem: str) -> None:
    text = one_line(invoke(*args, "--redis-url", url))
    assert text.startswith("error: invalid Redis URL ")
    assert text.endswith(problem)
    assert "s3cret-pw" not in text


@pytest.mark.parametrize(
    "args",
    [
        ["status", SWARM],
        ["run", SWARM],
        ["results", SWARM],
        ["review", "list", SWARM],
        ["dlq", "list", SWARM],
        ["session", "list", SWARM],
        ["audit", SWARM, "--tenant", "acme"],
        ["submit", SWARM, "--tenant", "acme", "--skill", "summarise", "--input", "{}"],
    ],
    ids=lambda args: " ".join(a for a in args[:2] if a != SWARM),
)
def test_the_password_of_an_unreachable_redis_is_never_printed(args: list[str]) -> None:
    text = one_line(invoke(*args, "--redis-url", UNREACHABLE))
    assert text.startswith("error: cannot reach Redis at redis://***@127.0.0.1:1/0: ")
    assert "s3cret-pw" not in text


def test_fail_on_names_only_outcomes() -> None:
    result = invoke("run", SWARM, "--fail-on", "denied,lost")
    assert result.exit_code == 2
    assert "unknown outcome(s) lost; choose from denied, review, dead_lettered" in result.stderr
