"""The ``chimera`` command line."""

from __future__ import annotations

import sys

from chimera.cli.signals import EarlyStop


def main() -> None:
    """Console-script entry point.

    A worker that is told to stop while it is still importing must stop cleanly (exit 0)
    rather than die of the signal, so SIGINT/SIGTERM are recorded before the heavy imports
    and handed to the command (see :mod:`chimera.cli.signals`). Standard output and error
    are made to write every byte (see :mod:`chimera.cli.stdio`).
    """
    early = EarlyStop().install() if _subcommand(sys.argv[1:]) == "worker" else None
    from chimera.cli.app import cli
    from chimera.cli.stdio import complete_standard_streams

    complete_standard_streams()
    cli(prog_name="chimera", obj=early)


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
