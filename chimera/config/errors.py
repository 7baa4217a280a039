"""Configuration problems, each pinned to a place in a file."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the configuration, at ``file:line:col`` (1-based)."""

    file: Path
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.message}"


class ConfigError(Exception):
    """The configuration cannot be used; ``problems`` lists every reason found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(set(problems))
        super().__init__("\n".join(str(p) for p in self.problems))


def unknown_message(kind: str, name: str, allowed: Iterable[str]) -> str:
    """``unknown <kind> '<name>'``, with the closest known name and the known names."""
    options = sorted(allowed)
    message = f"unknown {kind} {name!r}"
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    if close:
        message += f"; did you mean {close[0]!r}?"
    if options:
        message += f" (expected one of: {', '.join(options)})"
    return message
