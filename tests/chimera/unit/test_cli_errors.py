"""How commands report failures that are not the user's input: one line, exit 1."""

from __future__ import annotations

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from chimera.cli.errors import reports_input_errors
from chimera.services.audit import AuditFailed


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (
            RedisConnectionError("Connection reset by peer"),
            "error: Redis failed: connection lost: Connection reset by peer",
        ),
        (
            AuditFailed("audit sink 'jsonl' failed: disk full"),
            "error: audit sink 'jsonl' failed: disk full; what it was recording was not applied",
        ),
    ],
)
def test_environment_failures_are_one_line_and_exit_1(
    error: Exception, line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    @reports_input_errors
    def command() -> None:
        raise error

    with pytest.raises(SystemExit) as exit_info:
        command()
    assert exit_info.value.code == 1
    assert capsys.readouterr().err.splitlines() == [line]
