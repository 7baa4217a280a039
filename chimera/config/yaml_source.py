"""YAML loading that remembers where every value came from, and what it was written as.

PyYAML's ``safe_load`` throws node positions away; validation errors are only useful to a
user with a ``file:line:col``. So we build plain Python values from the parser's events
ourselves (:mod:`chimera.config.yaml_builder`) and keep a map from each value's path (the
same tuple pydantic reports as an error ``loc``) to the position of its node.

The map also keeps what each interpolated string was written as (``${API_KEY}``), so that
no message ever quotes the value a variable held: :meth:`SourceMap.problem` puts the
reference back wherever a message would show the value.
"""

from __future__ import annotations

import os
import re
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from chimera.config.errors import ConfigError, Problem
from chimera.config.yaml_builder import BuildStopped, EventBuilder
from chimera.config.yaml_text import read_yaml_text

Loc = tuple[str | int, ...]

#: Marks the position of a mapping *key* rather than its value.
KEY = "[key]"

_ENV_REF = re.compile(r"\$(\$)?\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

#: Values from the environment at least this long are also hidden where a message quotes
#: them without quotes; shorter ones only where quoted (to not garble ordinary words).
_BARE_SECRET_MIN = 8

_REPR = reprlib.Repr()
_REPR.maxstring = 60
_REPR.maxother = 60
_REPR.maxlist = _REPR.maxdict = 6
_REPR.maxlevel = 3


@dataclass(frozen=True)
class Position:
    """A 0-based line and column, and whether the node is a block scalar (``|`` or ``>``)."""

    line: int
    col: int
    block: bool = False


@dataclass
class SourceMap:
    """Positions of the values of one YAML file, keyed by their path.

    Attributes:
        file: the file the values came from.
        positions: where each value (and, under a ``KEY`` suffix, each key) starts.
        written: for each string that had ``${VAR}`` replaced, ``(as written, value)``.
        copies: where an alias or merge key reuses a value: its loc, and the loc it was
            built at (see :meth:`written_at`).
    """

    file: Path
    positions: dict[Loc, Position] = field(default_factory=dict)
    written: dict[Loc, tuple[str, str]] = field(default_factory=dict)
    copies: dict[Loc, Loc] = field(default_factory=dict)

    def position(self, loc: Loc) -> Position:
        """Return the position of ``loc``, or of its nearest ancestor that has one."""
        for end in range(len(loc), -1, -1):
            found = self.positions.get(tuple(loc[:end]))
            if found is not None:
                return found
        return Position(0, 0)

    def problem(self, loc: Loc, message: str, line_offset: int = 0) -> Problem:
        """Build a :class:`Problem` located at ``loc`` (plus ``line_offset`` lines).

        Any value of an environment variable the message quotes is shown as the
        ``${VAR}`` reference it was written as.
        """
        pos = self.position(loc)
        return Problem(self.file, pos.line + 1 + line_offset, pos.col + 1, self.redact(message))

    def record(self, loc: Loc, mark: Any, block: bool) -> None:
        """Remember that the value at ``loc`` starts at parser ``mark``."""
        self.positions[loc] = Position(mark.line, mark.column, block)

    def copy_written(self, origin: Loc, target: Loc) -> None:
        """Note that the value built at ``origin`` is also used at ``target`` (an alias)."""
        self.copies[target] = origin

    def written_at(self, loc: Loc) -> tuple[str, str] | None:
        """``(as written, value)`` of the interpolated string at ``loc``, if it is one."""
        for _ in range(1000):  # each hop leads to a value built earlier: no loops
            entry = self.written.get(loc)
            if entry is not None:
                return entry
            for end in range(len(loc), 0, -1):
                origin = self.copies.get(loc[:end])
                if origin is not None:
                    loc = (*origin, *loc[end:])
                    break
            else:
                return None
        return None

    def redact(self, message: str) -> str:
        """Replace every interpolated value quoted in ``message`` by what was written."""
        for raw, value in self.written.values():
            if not value or value == raw:
                continue
            message = message.replace(repr(value), repr(raw))
            if len(value) >= _BARE_SECRET_MIN:
                message = message.replace(value, raw)
        return message

    def shown(self, loc: Loc, value: Any) -> str:
        """A short ``repr`` of the value at ``loc`` as written (``${VAR}``, not its value)."""
        return _REPR.repr(self._as_written(loc, value, 0))

    def _as_written(self, loc: Loc, value: Any, depth: int) -> Any:
        written = self.written_at(loc) if self.written else None
        if written is not None and value == written[1]:
            return written[0]
        if depth >= _REPR.maxlevel or not self.written:
            return value
        if isinstance(value, dict):
            # Every entry: reprlib shows a sorted few, and cuts long strings (a cut secret
            # would no longer be recognised by redact()).
            return {k: self._as_written((*loc, k), v, depth + 1) for k, v in value.items()}
        if isinstance(value, list):
            head = [
                self._as_written((*loc, i), v, depth + 1)
                for i, v in enumerate(value[: _REPR.maxlist])
            ]
            return head + value[_REPR.maxlist :]
        return value


def load_yaml(path: Path, env: Mapping[str, str] | None = None) -> tuple[Any, SourceMap]:
    """Read one YAML document, interpolating ``${VAR}`` and ``${VAR:-default}``.

    ``$${VAR}`` stays literal ``${VAR}``. Whatever the file holds, only
    :class:`~chimera.config.errors.ConfigError` comes out, and reading it stays within the
    bounds of :mod:`chimera.config.limits` (see :mod:`chimera.config.yaml_builder` for the
    tags, anchors and merge keys accepted).

    Args:
        path: the file to read.
        env: where variables come from; ``os.environ`` by default.

    Returns:
        The document as plain Python values, and the map of their positions.

    Raises:
        ConfigError: the file is unreadable, too large, not UTF-8, not YAML, too deep or
            too large once aliases are counted, uses an unsupported tag, has duplicate
            keys or names an unset variable.
    """
    path = Path(path)
    source = SourceMap(path)
    text = read_yaml_text(path)
    interpolator = _Interpolator(source, os.environ if env is None else env)
    builder = EventBuilder(path, source.record, KEY, interpolator, source.copy_written)
    try:
        _parse(text, builder)
    except BuildStopped as exc:
        raise ConfigError([*builder.problems, *interpolator.problems, exc.problem]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([_syntax_problem(path, text, exc)]) from None
    if not builder.done:
        raise ConfigError([Problem(path, 1, 1, "the file is empty; expected a mapping")])
    problems = [*builder.problems, *interpolator.problems]
    if problems:
        raise ConfigError(problems)
    return builder.result, source


#: libyaml's parser when PyYAML was built with it (the wheels are): the same events, about
#: twenty times faster than the pure-Python parser, and neither recurses per nesting level.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _parse(text: str, builder: EventBuilder) -> None:
    loader = _Loader(text)
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, yaml.DocumentStartEvent) and builder.done:
                mark: Any = event.start_mark
                raise BuildStopped(
                    Problem(
                        builder.file,
                        mark.line + 1,
                        mark.column + 1,
                        "expected a single YAML document; another one starts here",
                    )
                )
            builder.feed(event)
    finally:
        loader.dispose()


def _syntax_problem(path: Path, text: str, exc: yaml.YAMLError) -> Problem:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = exc.problem or exc.context or "invalid YAML"
        return Problem(path, line, col, f"invalid YAML: {what}")
    position = getattr(exc, "position", None)
    if isinstance(position, int):  # a reader error: a character index
        line = text.count("\n", 0, position) + 1
        col = position - (text.rfind("\n", 0, position) + 1) + 1
        return Problem(path, line, col, f"invalid YAML: {getattr(exc, 'reason', exc)}")
    return Problem(path, 1, 1, f"invalid YAML: {exc}")


class _Interpolator:
    """Replaces ``${VAR}`` in string values, remembering what each value was written as."""

    def __init__(self, source: SourceMap, env: Mapping[str, str]) -> None:
        self.source = source
        self.env = env
        self.problems: list[Problem] = []

    def __call__(self, text: str, loc: Loc) -> str:
        if "${" not in text:
            return text
        substituted = False

        def replace(match: re.Match[str]) -> str:
            nonlocal substituted
            escaped, name, default = match.groups()
            if escaped:
                return match.group(0)[1:]
            substituted = True
            if default is not None and not self.env.get(name):
                return default  # as in the shell, ":-" also covers a variable set empty
            if name in self.env:
                return self.env[name]
            self.problems.append(
                self.source.problem(loc, f"environment variable {name} is not set")
            )
            return ""

        value = _ENV_REF.sub(replace, text)
        if substituted:
            self.source.written[loc] = (text, value)
        return value
