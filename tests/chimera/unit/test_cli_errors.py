"""How commands report failures: one line; exit 2 for the user's input, 1 for faults."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoPermissionError

from chimera.bootstrap import Runtime
from chimera.cli.errors import reports_input_errors
from chimera.cli.runtime import run_until_stopped, with_runtime
from chimera.lib.keys import Keyspace
from chimera.lib.redis_connect import InvalidRedisUrl
from chimera.services.audit import AuditFailed
from chimera.services.faults import PermanentFault
from chimera.services.tenants import UnknownTenant

SWARM = Path(__file__).resolve().parents[3] / "swarm.yaml"


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


def test_request_errors_and_bad_urls_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for error in [
        UnknownTenant("unknown tenant 'x' (known: acme)"),
        InvalidRedisUrl("invalid Redis URL redis://[::1: Invalid IPv6 URL"),
    ]:
        line = f"error: {error}"

        @reports_input_errors
        def command(error: Exception = error) -> None:
            raise error

        with pytest.raises(SystemExit) as exit_info:
            command()
        assert exit_info.value.code == 2
        assert capsys.readouterr().err.splitlines() == [line]


def permanent() -> PermanentFault:
    cause = NoPermissionError("this user has no permissions to run the 'evalsha' command")
    error = PermanentFault("worker.read", cause)
    error.__cause__ = cause
    return error


def test_a_permanent_fault_from_a_command_body_is_one_line_naming_redis(
    capsys: pytest.CaptureFixture[str], keyspace: Keyspace
) -> None:
    async def body(_runtime: Runtime) -> None:
        raise permanent()

    @reports_input_errors
    def command() -> None:
        with_runtime(SWARM, None, keyspace.prefix, body)

    with pytest.raises(SystemExit) as exit_info:
        command()
    assert exit_info.value.code == 1
    assert capsys.readouterr().err.splitlines() == [
        "error: the embedded Redis failed: no permission: worker.read: NoPermissionError: "
        "this user has no permissions to run the 'evalsha' command"
    ]


def test_a_permanent_fault_of_something_else_is_one_line_too(
    capsys: pytest.CaptureFixture[str],
) -> None:
    @reports_input_errors
    def command() -> None:
        raise PermanentFault("judge.batch", AuditFailed("audit sink 'jsonl' failed: read-only"))

    with pytest.raises(SystemExit) as exit_info:
        command()
    assert exit_info.value.code == 1
    assert capsys.readouterr().err.splitlines() == [
        "error: judge.batch: AuditFailed: audit sink 'jsonl' failed: read-only; stopped"
    ]


def test_debug_logging_adds_the_traceback(keyspace: Keyspace) -> None:
    from chimera.cli.app import cli

    # A Redis nobody answers at: one line, and the traceback too only at DEBUG.
    args = ["status", str(SWARM), "--redis-url", "redis://u:s3cret@127.0.0.1:1/0"]
    quiet = CliRunner().invoke(cli, args)
    loud = CliRunner().invoke(cli, [*args, "--log-level", "DEBUG"])
    assert quiet.exit_code == loud.exit_code == 2
    assert "Traceback" not in quiet.stderr
    assert len(quiet.stderr.splitlines()) == 1
    assert "Traceback (most recent call last)" in loud.stderr
    assert loud.stderr.splitlines()[-1] == quiet.stderr.splitlines()[0]
    assert "s3cret" not in loud.stderr


async def test_when_one_loop_fails_the_others_stop_and_the_failure_propagates() -> None:
    stop = asyncio.Event()
    stopped_cleanly: list[str] = []

    async def failing() -> None:
        await asyncio.sleep(0)
        raise permanent()

    async def patient() -> None:
        await stop.wait()
        stopped_cleanly.append("judge")

    with pytest.raises(PermanentFault):
        await run_until_stopped([failing(), patient()], stop)
    assert stopped_cleanly == ["judge"]


async def test_loops_that_all_stop_return() -> None:
    stop = asyncio.Event()
    seen: list[int] = []

    async def loop(n: int) -> None:
        await stop.wait()
        seen.append(n)

    stop.set()
    await run_until_stopped([loop(1), loop(2)], stop)
    assert sorted(seen) == [1, 2]


def test_the_garbage_collector_is_settled_for_many_tasks() -> None:
    import gc

    from chimera.cli.runtime import settle_garbage_collector

    before = gc.get_threshold()
    try:
        settle_garbage_collector()
        assert gc.get_threshold()[0] >= 50_000
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
