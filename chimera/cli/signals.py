"""Every signal the CLI handles, in one place.

- ``chimera worker`` stops cleanly (exit 0) on SIGINT or SIGTERM, also one that arrives
  while the interpreter is still importing, the swarm loading or Redis connecting: an
  :class:`EarlyStop` records such signals from process start (``chimera.cli.main``) and the
  worker's stop event starts set when one came (:func:`worker_signals`,
  :func:`stop_on_signals`).
- ``chimera run`` treats SIGTERM like Ctrl-C: it unwinds, closes its connections and exits
  130 (SIGINT) or 143 (SIGTERM) (:func:`interrupt_on_sigterm`).
- ``chimera mcp serve`` over HTTP stops like a worker (:func:`stop_on_signals`); over stdio
  it ends the process at once (:func:`exit_on_signals`).

This module imports nothing heavy: ``main()`` installs the early handlers before the CLI's
own imports start.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

#: The signals that ask a command to stop.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class EarlyStop:
    """Records stop signals from :meth:`install` until :meth:`restore`.

    Attributes:
        received: the signal numbers received, in order.
    """

    def __init__(self) -> None:
        self.received: list[int] = []
        self._previous: dict[int, Any] = {}

    def install(self) -> EarlyStop:
        """Start recording SIGINT and SIGTERM instead of dying of them; returns ``self``."""
        for sig in STOP_SIGNALS:
            if sig not in self._previous:
                self._previous[sig] = signal.signal(sig, self._record)
        return self

    def _record(self, number: int, _frame: FrameType | None) -> None:
        self.received.append(number)

    @property
    def stopped(self) -> bool:
        """Whether a stop signal came."""
        return bool(self.received)

    def restore(self) -> None:
        """Put back the handlers that were there before :meth:`install`."""
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()


@contextmanager
def worker_signals(early: EarlyStop | None = None) -> Iterator[EarlyStop]:
    """Record stop signals for the duration of a ``chimera worker`` command.

    Args:
        early: the recorder ``main()`` installed at process start, when there is one; its
            signals count. Without it recording starts now.
    """
    stop = early or EarlyStop()
    stop.install()
    try:
        yield stop
    finally:
        stop.restore()


def stop_on_signals(stop: asyncio.Event, early: EarlyStop | None = None) -> None:
    """Set ``stop`` on SIGINT or SIGTERM from now on (the running loop handles them).

    A signal ``early`` recorded before the loop ran sets ``stop`` at once.
    """
    import asyncio

    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    if early is not None and early.stopped:
        stop.set()


def exit_on_signals() -> None:
    """End the process at once, exit 0, on SIGINT or SIGTERM (the stdio MCP server).

    Its stdin is read by a thread blocked in ``read()`` that cannot be cancelled, so a
    graceful stop would wait for the client's next line. Nothing is lost: every tool call
    is one atomic step in Redis, and the client's own requests in flight simply fail.
    """
    import asyncio
    import os

    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, os._exit, 0)


class Interruption:
    """What interrupted ``chimera run``: nothing yet, Ctrl-C, or SIGTERM."""

    def __init__(self) -> None:
        self.terminated = False

    @property
    def exit_code(self) -> int:
        """The conventional 128 + signal number: 143 for SIGTERM, 130 for Ctrl-C."""
        return 128 + (signal.SIGTERM if self.terminated else signal.SIGINT)

    def _on_sigterm(self, _number: int, _frame: FrameType | None) -> None:
        self.terminated = True
        raise KeyboardInterrupt


@contextmanager
def interrupt_on_sigterm() -> Iterator[Interruption]:
    """Make SIGTERM raise ``KeyboardInterrupt`` (as Ctrl-C does) inside the block."""
    interruption = Interruption()
    previous = signal.signal(signal.SIGTERM, interruption._on_sigterm)
    try:
        yield interruption
    finally:
        signal.signal(signal.SIGTERM, previous)
