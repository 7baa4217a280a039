"""The supervisor of `chimera worker --processes N`, over real child processes (tiny Python
scripts standing in for workers; `test_worker_supervisor.py` runs real workers)."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from chimera.cli.commands_run import worker
from chimera.cli.signals import EarlyStop
from chimera.cli.supervisor import RestartPolicy, Supervisor, exit_code
from chimera.cli.worker_children import child_command

# A worker stand-in: writes its pid to DIR/<pid>, stops on SIGTERM/SIGINT with CODE (0 by
# default), writing DIR/<pid>.stopped first.
SLEEPER = """
import os, signal, sys, time
directory, code = sys.argv[1], int(sys.argv[2])
def stop(number, frame):
    open(os.path.join(directory, f"{os.getpid()}.stopped"), "w").write(str(number))
    sys.exit(code)
signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
open(os.path.join(directory, str(os.getpid())), "w").close()
while True:
    time.sleep(0.05)
"""
FAST = RestartPolicy(first_delay_s=0.01, max_delay_s=0.05, min_uptime_s=30, max_quick_exits=3)


def sleeper(directory: Path, code: int = 0) -> list[str]:
    return [sys.executable, "-c", SLEEPER, str(directory), str(code)]


def crasher(code: int) -> list[str]:
    return [sys.executable, "-c", f"raise SystemExit({code})"]


@contextmanager
def running(supervisor: Supervisor) -> Iterator[tuple[EarlyStop, list[int]]]:
    """Run ``supervisor`` on a thread; signals are recorded by appending to ``received``."""
    signals = EarlyStop()  # not installed: the test plays the signals
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(supervisor.run(signals)))
    thread.start()
    try:
        yield signals, result
    finally:
        if thread.is_alive():
            signals.received.append(signal.SIGTERM)
        thread.join(timeout=30)
        assert not thread.is_alive()


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def started(directory: Path) -> set[int]:
    return {int(path.name) for path in directory.iterdir() if path.name.isdigit()}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_killed_child_is_restarted_and_one_signal_stops_every_child(tmp_path: Path) -> None:
    supervisor = Supervisor(lambda _slot: sleeper(tmp_path), 3, FAST)
    with running(supervisor) as (signals, result):
        wait_for(lambda: len(started(tmp_path)) == 3, "three children")
        first = set(supervisor.pids())
        assert first == started(tmp_path)
        victim = sorted(first)[1]
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: len(started(tmp_path)) == 4, "a replacement")
        wait_for(lambda: len(supervisor.pids()) == 3, "three running again")
        now = set(supervisor.pids())
        assert victim not in now
        assert len(now - first) == 1
        signals.received.append(signal.SIGTERM)
        wait_for(lambda: bool(result), "the supervisor to return")
    assert result == [0]
    # Every child that was running got the signal once and exited; none is left behind.
    stopped = {int(path.name.split(".")[0]) for path in tmp_path.glob("*.stopped")}
    assert stopped == now
    assert {(tmp_path / f"{pid}.stopped").read_text() for pid in now} == {str(int(signal.SIGTERM))}
    assert not any(alive(pid) for pid in started(tmp_path))


def test_a_crash_loop_gives_up_stops_the_others_and_exits_with_its_code(tmp_path: Path) -> None:
    def command(slot: int) -> list[str]:
        return crasher(3) if slot == 0 else sleeper(tmp_path)

    supervisor = Supervisor(command, 2, FAST)
    with running(supervisor) as (_signals, result):
        wait_for(lambda: bool(result), "the supervisor to give up")
    assert result == [3]
    report = supervisor.crash_report()
    assert report is not None
    assert report.startswith("worker process 0 crash-looped: it exited 3 times in a row")
    assert "(last exit code 3)" in report
    (other,) = started(tmp_path)
    assert (tmp_path / f"{other}.stopped").exists()  # stopped by the supervisor, cleanly
    assert not alive(other)


def test_a_child_that_lived_long_enough_starts_its_backoff_over(tmp_path: Path) -> None:
    policy = RestartPolicy(first_delay_s=0.01, max_delay_s=0.05, min_uptime_s=0, max_quick_exits=1)
    # Every exit comes after min_uptime_s (0): never a crash loop, however often it exits.
    marker = tmp_path / "runs"
    script = f"open({str(marker)!r}, 'a').write('x')"
    supervisor = Supervisor(lambda _slot: [sys.executable, "-c", script], 1, policy)
    with running(supervisor) as (signals, result):
        wait_for(lambda: marker.exists() and len(marker.read_text()) >= 4, "four runs")
        signals.received.append(signal.SIGINT)
        wait_for(lambda: bool(result), "the supervisor to return")
    assert supervisor.crash_report() is None
    assert result == [0]


def test_the_exit_code_of_a_child_that_stopped_badly_is_the_supervisors(tmp_path: Path) -> None:
    def command(slot: int) -> list[str]:
        return sleeper(tmp_path, code=7 if slot == 1 else 0)

    supervisor = Supervisor(command, 2, FAST)
    with running(supervisor) as (signals, result):
        wait_for(lambda: len(started(tmp_path)) == 2, "two children")
        signals.received.append(signal.SIGINT)
        wait_for(lambda: bool(result), "the supervisor to return")
    assert result == [7]


def test_a_child_killed_by_the_forwarded_signal_itself_stopped_cleanly(tmp_path: Path) -> None:
    # A child that is still starting has no handler yet: the signal's default action ends it.
    script = "import os, sys, time; open(os.path.join(sys.argv[1], str(os.getpid())), 'w')"
    script += "; time.sleep(60)"
    supervisor = Supervisor(lambda _slot: [sys.executable, "-c", script, str(tmp_path)], 2, FAST)
    with running(supervisor) as (signals, result):
        wait_for(lambda: len(started(tmp_path)) == 2, "two children")
        signals.received.append(signal.SIGTERM)
        wait_for(lambda: bool(result), "the supervisor to return")
    assert result == [0]
    assert not any(alive(pid) for pid in started(tmp_path))


def test_a_child_killed_by_another_signal_while_stopping_is_not_clean(tmp_path: Path) -> None:
    supervisor = Supervisor(lambda _slot: sleeper(tmp_path), 2, FAST)
    with running(supervisor) as (signals, result):
        wait_for(lambda: len(started(tmp_path)) == 2, "two children")
        # Stopping (the signal is recorded) while one child is SIGKILLed by someone else.
        pids = sorted(supervisor.pids())
        os.kill(pids[0], signal.SIGSTOP)  # it cannot handle SIGTERM until killed
        signals.received.append(signal.SIGTERM)
        wait_for(lambda: (tmp_path / f"{pids[1]}.stopped").exists(), "the other to stop")
        os.kill(pids[0], signal.SIGKILL)
        wait_for(lambda: bool(result), "the supervisor to return")
    assert result == [137]


def test_a_signal_before_the_start_starts_no_child(tmp_path: Path) -> None:
    signals = EarlyStop()
    signals.received.append(signal.SIGTERM)
    assert Supervisor(lambda _slot: sleeper(tmp_path), 2, FAST).run(signals) == 0
    assert started(tmp_path) == set()


def test_exit_codes_of_children_killed_by_a_signal_read_as_a_shells() -> None:
    assert exit_code(-9) == 137
    assert exit_code(-15) == 143
    assert exit_code(2) == 2


def test_restart_delays_double_up_to_the_limit() -> None:
    policy = RestartPolicy(first_delay_s=0.5, max_delay_s=3)
    assert [policy.delay(n) for n in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_children_get_the_command_line_without_processes_and_their_own_metrics_port() -> None:
    args = [
        "swarm.yaml", "--processes", "3", "--tenant", "acme", "--tenant", "globex",
        "--no-judge", "--grace", "2.5", "--metrics-port", "9100", "--no-trace",
    ]  # fmt: skip
    ctx = worker.make_context("worker", args)
    line = child_command(ctx, 2)
    assert line[:3] == [sys.executable, "-m", "chimera"]
    rest = line[line.index("worker") + 1 :]
    assert "--processes" not in rest
    assert rest == [
        "swarm.yaml", "--tenant", "acme", "--tenant", "globex", "--no-judge",
        "--grace", "2.5", "--no-trace", "--metrics-port", "9102",
    ]  # fmt: skip
