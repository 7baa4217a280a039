"""Configuration problems, each pinned to a place in a file."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

#: Control characters and line separators, shown escaped as Python would show them.
_ONE_LINE = {
    code: repr(chr(code))[1:-1]
    for code in [*range(0x20), 0x7F, 0x85, 0x2028, 0x2029]
    if code != 0x09
}


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the configuration, at ``file:line:col`` (1-based)."""

    file: Path
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        # One problem, one line: a message quoting a user's key or value may hold a line
        # break, which would read as two problems.
        return f"{self.file}:{self.line}:{self.col}: {self.message}".translate(_ONE_LINE)


class ConfigError(Exception):
    """The configuration cannot be used; ``problems`` lists every reason found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(set(problems))
        super().__init__("\n".join(str(p) for p in self.problems))


def unknown_message(kind: str, name: str, allowed: Iterable[str]) -> str:
    """``unknown <kind> '<name>'``, with the closest known name and the known names."""
    options = sorted(allowed)
    message = f"unknown {kind} {name[:80]!r}"
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    if close:
        message += f"; did you mean {close[0]!r}?"
    if options:
        message += f" (expected one of: {', '.join(options)})"
    return message
