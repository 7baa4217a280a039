"""The ``chimera`` command line."""

from __future__ import annotations

import signal
import sys

#: Signals that reached a ``chimera worker`` before it could set up its own handlers.
early_signals: list[int] = []


def main() -> None:
    """Console-script entry point.

    A worker that is told to stop while it is still importing must stop cleanly (exit 0)
    rather than die of the signal, so record SIGINT/SIGTERM before the heavy imports; the
    worker command looks at what was recorded once its event loop runs.
    """
    if "worker" in sys.argv[1:]:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda number, _frame: early_signals.append(number))
    from chimera.cli.app import cli

    cli(prog_name="chimera")


__all__ = ["main"]
