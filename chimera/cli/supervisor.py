"""``chimera worker --processes N``: N worker processes kept running by one supervisor.

One Python process runs its Worker on one core; past that, more processes. The supervisor
starts N children (each an ordinary ``chimera worker`` with its own pid, so its own consumer
name and heartbeat), restarts one that exits while nobody asked it to (after a delay that
doubles while it keeps dying young), and gives up when one crash-loops. A SIGTERM or SIGINT
it receives is forwarded, once per signal, to every child; each drains as a lone worker does
(stop reading, finish or hand back within ``--grace``, exit 0) and the supervisor exits when
the last has.

Exit codes: 0 when every child stopped cleanly after the signal (one killed by the very
signal it was sent, still starting, counts as clean); otherwise the first non-zero exit code
among the children's last exits, in slot order (128 + N for a child that died of signal N);
after a crash loop, the crash-looping child's last code (1 if that was 0).

The loop is synchronous and polls: it needs no event loop, and a child is a plain
``subprocess.Popen``. Signals come through :class:`~chimera.cli.signals.EarlyStop`, which
records every one since the command started (also one received before any child exists:
then none is started).
"""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from chimera.cli.signals import EarlyStop
from chimera.lib.logging import get_logger

log = get_logger("chimera.supervisor")

#: Builds the command line of the child in a slot (0 … N-1).
CommandFor = Callable[[int], Sequence[str]]

_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class RestartPolicy:
    """When a child that exited is started again, and when the supervisor gives up.

    Attributes:
        first_delay_s: wait before restarting a child that had run at least ``min_uptime_s``.
        max_delay_s: the longest wait; each quick exit in a row doubles it up to this.
        min_uptime_s: a child that exits sooner than this after its start exited *quickly*.
        max_quick_exits: quick exits in a row of one slot that make a crash loop.
    """

    first_delay_s: float = 0.5
    max_delay_s: float = 30.0
    min_uptime_s: float = 10.0
    max_quick_exits: int = 5

    def delay(self, quick_exits: int) -> float:
        """Seconds to wait before the restart that follows ``quick_exits`` quick exits."""
        return float(min(self.max_delay_s, self.first_delay_s * 2**quick_exits))


@dataclass
class _Slot:
    """One of the N places a child runs in."""

    index: int
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    starts: int = 0
    quick_exits: int = 0
    restart_at: float | None = None
    last_code: int | None = None


def exit_code(returncode: int) -> int:
    """A child's ``Popen.returncode`` as a shell reports it: 128 + N for death by signal N."""
    return 128 - returncode if returncode < 0 else returncode


@dataclass
class Supervisor:
    """Runs ``processes`` children of ``command_for`` until a stop signal or a crash loop.

    Args:
        command_for: the command line of the child in a slot.
        processes: how many children run at once.
        policy: restart delays and the crash-loop limit.
        poll_s: how often children and signals are looked at.
        clock: monotonic seconds (replaceable in tests).
    """

    command_for: CommandFor
    processes: int
    policy: RestartPolicy = field(default_factory=RestartPolicy)
    poll_s: float = 0.1
    clock: Callable[[], float] = time.monotonic
    _slots: list[_Slot] = field(default_factory=list, init=False)
    _stopping: bool = field(default=False, init=False)
    _forwarded: int = field(default=0, init=False)
    _sent: set[int] = field(default_factory=set, init=False)
    _crashed: _Slot | None = field(default=None, init=False)

    def run(self, signals: EarlyStop) -> int:
        """Start the children, keep them running, stop them on a signal; the exit code.

        Args:
            signals: records SIGTERM/SIGINT (installed by the caller); every signal
                recorded is forwarded to the children once.
        """
        self._slots = [_Slot(index) for index in range(self.processes)]
        if not signals.stopped:
            for slot in self._slots:
                self._start(slot)
        while True:
            self._forward(signals)
            self._reap()
            if self._stopping and not self._live():
                break
            if not self._stopping:
                self._restart_due()
            time.sleep(self.poll_s)
        code = self._result()
        log.info("supervisor.stopped", code=code)
        return code

    def pids(self) -> list[int]:
        """Process ids of the children running now, in slot order."""
        return [slot.process.pid for slot in self._slots if slot.process is not None]

    def _live(self) -> list[_Slot]:
        return [slot for slot in self._slots if slot.process is not None]

    def _start(self, slot: _Slot) -> None:
        slot.process = subprocess.Popen(
            list(self.command_for(slot.index)),
            # Its own process group: a Ctrl-C in the terminal reaches the supervisor only,
            # which forwards it once, rather than every child at the same time (a child
            # that stopped on its own would look like one that died).
            process_group=0,
            preexec_fn=_die_with_parent,
        )
        slot.started_at = self.clock()
        slot.restart_at = None
        slot.starts += 1
        log.info(
            "supervisor.child_started",
            slot=slot.index,
            pid=slot.process.pid,
            restart=slot.starts - 1,
        )

    def _forward(self, signals: EarlyStop) -> None:
        received = list(signals.received)
        for number in received[self._forwarded :]:
            if not self._stopping:
                log.info("supervisor.stopping", signal=signal.Signals(number).name)
            self._stopping = True
            self._signal_all(number)
        self._forwarded = len(received)

    def _signal_all(self, number: int) -> None:
        self._sent.add(number)
        for slot in self._live():
            assert slot.process is not None
            if slot.process.poll() is None:
                slot.process.send_signal(number)

    def _reap(self) -> None:
        for slot in self._live():
            assert slot.process is not None
            returncode = slot.process.poll()
            if returncode is None:
                continue
            pid = slot.process.pid
            slot.process = None
            slot.last_code = exit_code(returncode)
            if self._stopping:
                log.info("supervisor.child_stopped", slot=slot.index, pid=pid, code=slot.last_code)
                if -returncode in self._sent:
                    # Killed by the signal it was sent: it was still starting, before its
                    # handlers were installed, so it held no work. That is a clean stop.
                    slot.last_code = 0
                continue
            self._schedule_restart(slot, pid)

    def _schedule_restart(self, slot: _Slot, pid: int) -> None:
        uptime = self.clock() - slot.started_at
        slot.quick_exits = slot.quick_exits + 1 if uptime < self.policy.min_uptime_s else 0
        if slot.quick_exits >= self.policy.max_quick_exits:
            log.error(
                "supervisor.crash_loop",
                slot=slot.index,
                pid=pid,
                code=slot.last_code,
                quick_exits=slot.quick_exits,
                min_uptime_s=self.policy.min_uptime_s,
            )
            self._crashed = slot
            self._stopping = True
            self._signal_all(signal.SIGTERM)
            return
        delay = self.policy.delay(slot.quick_exits)
        slot.restart_at = self.clock() + delay
        log.warning(
            "supervisor.child_died",
            slot=slot.index,
            pid=pid,
            code=slot.last_code,
            uptime_s=round(uptime, 3),
            restart_in_s=delay,
        )

    def _restart_due(self) -> None:
        now = self.clock()
        for slot in self._slots:
            if slot.process is None and slot.restart_at is not None and slot.restart_at <= now:
                self._start(slot)

    def _result(self) -> int:
        if self._crashed is not None:
            return self._crashed.last_code or 1
        codes = [slot.last_code for slot in self._slots if slot.last_code]
        return codes[0] if codes else 0

    def crash_report(self) -> str | None:
        """One line naming the slot that crash-looped, or None when none did."""
        slot = self._crashed
        if slot is None:
            return None
        return (
            f"worker process {slot.index} crash-looped: it exited {slot.quick_exits} times in "
            f"a row within {self.policy.min_uptime_s:g}s of starting (last exit code "
            f"{slot.last_code}); its own error is in the log above; stopped the others"
        )


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask Linux to send the child SIGTERM when the supervisor dies, even of SIGKILL.

    The child then drains and exits like any stopped worker instead of running on, orphaned
    and unsupervised.
    """
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


# Loaded in the parent: the child only calls it between fork and exec.
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None
