"""``--log-level`` and ``--log-json/--log-console`` before or after the command's name.

The demo swarm has the ``log`` audit sink, which logs every audit event at DEBUG: a run
(embedded Redis) writes those lines to stderr at DEBUG and stays silent at INFO and above.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from click.testing import CliRunner, Result

from chimera.cli.app import cli

REPO = Path(__file__).resolve().parents[3]
SWARM = str(REPO / "swarm.yaml")


@pytest.fixture(autouse=True)
def reset_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    result = CliRunner(env=env).invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def audit_lines(result: Result) -> list[dict[str, object]]:
    return [json.loads(line) for line in result.stderr.splitlines()]


def test_log_level_after_the_command() -> None:
    result = run("run", SWARM, "--json", "--log-level", "DEBUG")
    events = audit_lines(result)
    assert events
    assert {e["level"] for e in events} <= {"debug", "info"}
    assert any(e["event"] == "audit.submitted" and e["level"] == "debug" for e in events)
    assert json.loads(result.stdout)["totals"]["tasks"] == 19  # 13 jobs + 6 pipeline steps


def test_the_default_is_quiet() -> None:
    assert run("run", SWARM, "--json").stderr == ""


def test_after_the_command_wins_over_before_it() -> None:
    assert run("--log-level", "DEBUG", "run", SWARM, "--json", "--log-level", "ERROR").stderr == ""
    assert audit_lines(run("--log-level", "ERROR", "run", SWARM, "--log-level", "debug", "--json"))


def test_the_env_var_still_counts_and_an_option_overrides_it() -> None:
    env = {"CHIMERA_LOG_LEVEL": "DEBUG"}
    assert audit_lines(run("run", SWARM, "--json", env=env))
    assert run("run", SWARM, "--json", "--log-level", "WARNING", env=env).stderr == ""
    # The env var does not undo an explicit option given before the command.
    assert run("--log-level", "ERROR", "run", SWARM, "--json", env=env).stderr == ""


def test_log_console_after_the_command() -> None:
    result = run("run", SWARM, "--json", "--log-level", "DEBUG", "--log-console")
    assert result.stderr
    assert "audit.submitted" in result.stderr
    assert not result.stderr.lstrip().startswith("{")
    again = run("--log-console", "run", SWARM, "--json", "--log-level", "DEBUG", "--log-json")
    assert audit_lines(again)


@pytest.mark.parametrize(
    "args",
    [
        ["validate", SWARM],
        ["plugins"],
        ["schema", "skill"],
        ["review", "--log-level", "DEBUG", "list", "--help"],
        ["session", "list", "--help"],
    ],
    ids=lambda args: args[0],
)
def test_every_command_accepts_the_options(args: list[str]) -> None:
    run(*args, "--log-level", "DEBUG", "--log-console")
