"""Finding the skill files a ``skills:`` pattern names, at bounded cost.

Python's ``glob`` follows symlinked folders while expanding ``**`` (two ``skills/l1 -> .``
links made it run for minutes) and walks whatever a pattern names (``/**/*.yaml`` is the
whole filesystem). This matcher keeps glob's syntax (``*``, ``?``, ``[…]``, ``**``; names
starting with ``.`` only matched by patterns that start with ``.``) with two rules:

- ``**`` never descends into a symlinked folder (a folder named literally in the
  pattern may still be a symlink);
- one pattern may look at no more than :data:`~chimera.config.limits.MAX_GLOB_ENTRIES`
  directory entries; past that it is an error asking for a narrower pattern.

Patterns are relative to the swarm file's folder; absolute ones are allowed (a deployment
may keep skills in ``/etc``) and bounded the same way.
"""

from __future__ import annotations

import fnmatch
import os
import re
from pathlib import Path, PurePath

from chimera.config.limits import MAX_GLOB_ENTRIES

_MAGIC = re.compile(r"[*?[]")


class PatternTooBroad(Exception):
    """Matching a pattern looked at more directory entries than allowed."""


def match_skill_files(base: Path, pattern: str) -> list[Path]:
    """Return the regular files ``pattern`` matches, relative to ``base``, sorted.

    Raises:
        PatternTooBroad: the pattern made the matcher look at too many entries.
    """
    pure = PurePath(pattern)
    parts = list(pure.parts)
    start = base
    if pure.anchor:
        start, parts = Path(pure.anchor), parts[1:]
    budget = _Budget()
    current = [start]
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        current = _step(current, part, budget, last)
        if not current:
            return []
    files = {path for path in current if path.is_file()}
    return sorted(files)


class _Budget:
    def __init__(self) -> None:
        self.left = MAX_GLOB_ENTRIES

    def spend(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise PatternTooBroad(
                f"matching looked at more than {MAX_GLOB_ENTRIES:,} directory entries"
            )


def _step(paths: list[Path], part: str, budget: _Budget, last: bool) -> list[Path]:
    """Apply one pattern segment to every path found so far."""
    found: dict[str, Path] = {}
    for path in paths:
        if part == "**":
            matches = _walk(path, budget, with_files=last)
        elif _MAGIC.search(part):
            matches = _list(path, part, budget)
        else:
            matches = [path / part]
        for match in matches:
            # Dedupe on the resolved folder, so that "a/../*" forms do not multiply work.
            found.setdefault(os.path.realpath(match), match)
    return list(found.values())


def _list(folder: Path, part: str, budget: _Budget) -> list[Path]:
    hidden_ok = part.startswith(".")
    out: list[Path] = []
    for entry in _entries(folder, budget):
        if entry.name.startswith(".") and not hidden_ok:
            continue
        if fnmatch.fnmatch(entry.name, part):
            out.append(folder / entry.name)
    return out


def _walk(folder: Path, budget: _Budget, with_files: bool) -> list[Path]:
    """``folder`` and every folder below it (and file, if asked), not entering symlinks."""
    out = [folder]
    pending = [folder]
    while pending:
        current = pending.pop()
        for entry in _entries(current, budget):
            if entry.name.startswith("."):
                continue
            try:
                is_folder = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            child = current / entry.name
            if is_folder:
                out.append(child)
                pending.append(child)
            elif with_files:
                out.append(child)
    return out


def _entries(folder: Path, budget: _Budget) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as listing:
            entries = []
            for entry in listing:
                budget.spend()
                entries.append(entry)
            return entries
    except OSError:  # not a folder, gone, or not readable: it matches nothing
        return []
