"""The ``chimera`` command line."""

from __future__ import annotations

from chimera.cli.app import main

__all__ = ["main"]
