"""YAML loading that remembers where every value came from.

PyYAML's ``safe_load`` throws node positions away; validation errors are only useful to a
user with a ``file:line:col``. So we compose the node graph, build plain Python values from
it ourselves, and keep a map from each value's path (the same tuple pydantic reports as an
error ``loc``) to the position of its node.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from chimera.config.errors import ConfigError, Problem

Loc = tuple[str | int, ...]

#: Marks the position of a mapping *key* rather than its value.
KEY = "[key]"

_ENV_REF = re.compile(r"\$(\$)?\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True)
class Position:
    """A 0-based line and column, and whether the node is a block scalar (``|`` or ``>``)."""

    line: int
    col: int
    block: bool = False


@dataclass
class SourceMap:
    """Positions of the values of one YAML file, keyed by their path."""

    file: Path
    positions: dict[Loc, Position] = field(default_factory=dict)

    def position(self, loc: Loc) -> Position:
        """Return the position of ``loc``, or of its nearest ancestor that has one."""
        for end in range(len(loc), -1, -1):
            found = self.positions.get(tuple(loc[:end]))
            if found is not None:
                return found
        return Position(0, 0)

    def problem(self, loc: Loc, message: str, line_offset: int = 0) -> Problem:
        """Build a :class:`Problem` located at ``loc`` (plus ``line_offset`` lines)."""
        pos = self.position(loc)
        return Problem(self.file, pos.line + 1 + line_offset, pos.col + 1, message)


def load_yaml(path: Path, env: Mapping[str, str] | None = None) -> tuple[Any, SourceMap]:
    """Read one YAML document, interpolating ``${VAR}`` and ``${VAR:-default}``.

    ``$${VAR}`` stays literal ``${VAR}``.

    Args:
        path: the file to read.
        env: where variables come from; ``os.environ`` by default.

    Returns:
        The document as plain Python values, and the map of their positions.

    Raises:
        ConfigError: the file is unreadable, not YAML, has duplicate keys or names an
            unset variable.
    """
    source = SourceMap(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([Problem(path, 1, 1, f"cannot read file: {exc.strerror}")]) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = exc.problem or exc.context or "invalid YAML"
        raise ConfigError([Problem(path, line, col, f"invalid YAML: {what}")]) from None
    if node is None:
        raise ConfigError([Problem(path, 1, 1, "the file is empty; expected a mapping")])
    builder = _Builder(source, os.environ if env is None else env)
    value = builder.build(node, ())
    if builder.problems:
        raise ConfigError(builder.problems)
    return value, source


class _Builder:
    def __init__(self, source: SourceMap, env: Mapping[str, str]) -> None:
        self.source = source
        self.env = env
        self.problems: list[Problem] = []
        self.scalars = yaml.constructor.SafeConstructor()

    def build(self, node: yaml.Node, loc: Loc) -> Any:
        block = isinstance(node, yaml.ScalarNode) and node.style in ("|", ">")
        self.source.positions[loc] = Position(node.start_mark.line, node.start_mark.column, block)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, loc)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*loc, i)) for i, item in enumerate(node.value)]
        value = self.scalars.construct_object(node, deep=True)
        if isinstance(value, str):
            return self._interpolate(value, loc)
        return value

    def _mapping(self, node: yaml.MappingNode, loc: Loc) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = self.scalars.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool) or key is None:
                self._at(key_node, "mapping keys must be plain scalars")
                continue
            key = str(key)
            if key in out:
                self._at(key_node, f"duplicate key {key!r}")
                continue
            key_mark = key_node.start_mark
            self.source.positions[(*loc, key, KEY)] = Position(key_mark.line, key_mark.column)
            out[key] = self.build(value_node, (*loc, key))
        return out

    def _interpolate(self, text: str, loc: Loc) -> str:
        def replace(match: re.Match[str]) -> str:
            escaped, name, default = match.groups()
            if escaped:
                return match.group(0)[1:]
            if default is not None and not self.env.get(name):
                return default  # as in the shell, ":-" also covers a variable set empty
            if name in self.env:
                return self.env[name]
            self.problems.append(
                self.source.problem(loc, f"environment variable {name} is not set")
            )
            return ""

        return _ENV_REF.sub(replace, text) if "${" in text else text

    def _at(self, node: yaml.Node, message: str) -> None:
        mark = node.start_mark
        self.problems.append(Problem(self.source.file, mark.line + 1, mark.column + 1, message))
