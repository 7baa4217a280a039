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
    if _subcommand(sys.argv[1:]) == "worker":
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda number, _frame: early_signals.append(number))
    from chimera.cli.app import cli

    cli(prog_name="chimera")


def _subcommand(args: list[str]) -> str | None:
    """The command named on the line, skipping the group's own options."""
    takes_value = {"--log-level"}
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in takes_value:
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


__all__ = ["main"]
