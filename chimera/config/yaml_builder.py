"""Build plain JSON-like values from YAML parser events, with positions and bounds.

Why events and not PyYAML's composer and constructor: the composer recurses once per
nesting level (a deep file is a ``RecursionError``), the constructor copies nothing but
our position map used to expand every alias into a full copy (a 330-byte alias bomb took
gigabytes), and both accept tags that make no sense in a configuration. Here the stack is
explicit, every limit in :mod:`chimera.config.limits` is checked as events arrive, an alias
shares the value of its anchor (its values and text still count against the budgets each
time it is used) and only the JSON-compatible core tags are accepted.

Decisions:

- Tags: ``!!str``, ``!!int``, ``!!float``, ``!!bool``, ``!!null``, ``!!seq``, ``!!map`` and
  the non-specific ``!`` are accepted; any other tag (``!!python/object``, ``!vault``,
  ``!!timestamp``, ``!!binary``, ``!!set``…) is a problem naming it.
- A plain scalar that looks like a date stays a string (JSON has no dates).
- ``.inf`` and ``.nan`` are refused: every value must be a JSON number.
- Merge keys (``<<: *defaults``) are supported, as in YAML 1.1: keys written in the mapping
  win over merged ones, earlier merged mappings over later ones. They are the usual way to
  share settings between tenants, and with shared (not copied) values they cost nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from chimera.config.errors import Problem
from chimera.config.limits import MAX_DEPTH, MAX_TEXT, MAX_VALUES
from chimera.config.yaml_scalars import MAP_TAGS, SEQ_TAGS, Scalars, unsupported

Loc = tuple[str | int, ...]


class BuildStopped(Exception):
    """A limit was crossed; building stops at once (the rest would only cost more)."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


@dataclass
class _Frame:
    """A list or mapping being built."""

    value: list[Any] | dict[str, Any]
    loc: Loc | None  # None: built only to be thrown away (a bad key, a merge source)
    depth: int
    anchor: str | None
    mark: Any
    size: int = 1
    chars: int = 0
    height: int = 1
    key: Any = None  # mappings: the key waiting for its value
    awaiting_value: bool = False
    key_usable: bool = False
    merging: bool = False
    merges: list[tuple[dict[str, Any], Any, Loc | None]] = field(default_factory=list)


@dataclass(frozen=True)
class _Anchored:
    value: Any
    size: int
    chars: int
    height: int
    loc: Loc | None  # where the anchored value was built


#: Callbacks the builder uses to record what it finds.
Record = Callable[[Loc, Any, bool], None]
Copied = Callable[[Loc, Loc], None]


class EventBuilder:
    """Turns the events of one document into a value; see the module docstring.

    Args:
        file: the file, for problems.
        record: called with ``(loc, mark, block)`` for each value and, with ``loc`` ending
            in the key marker, for each mapping key.
        key_marker: the last element of a key's loc.
        scalar_hook: called with ``(text, loc)`` for each string value; returns the value.
        copied: called with ``(from_loc, to_loc)`` when a value built at one place is used
            at another (an alias, a merged key).
    """

    def __init__(
        self,
        file: Any,
        record: Record,
        key_marker: str,
        scalar_hook: Callable[[str, Loc], str],
        copied: Copied,
    ) -> None:
        self.file = file
        self.record = record
        self.key_marker = key_marker
        self.scalar_hook = scalar_hook
        self.copied = copied
        self.problems: list[Problem] = []
        self.stack: list[_Frame] = []
        self.anchors: dict[str, _Anchored] = {}
        self.open_anchors: set[str] = set()
        self.count = 0
        self.chars = 0
        self.result: Any = None
        self.done = False
        self.scalars = Scalars()

    # --- events -----------------------------------------------------------------------

    def feed(self, event: yaml.Event) -> None:
        """Take one parser event (stream and document events are the caller's)."""
        if isinstance(event, yaml.ScalarEvent):
            self._scalar(event)
        elif isinstance(event, yaml.AliasEvent):
            self._alias(event)
        elif isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            self._start(event)
        elif isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
            self._end()

    def _scalar(self, event: yaml.ScalarEvent) -> None:
        parent = self.stack[-1] if self.stack else None
        if parent is not None and isinstance(parent.value, dict) and not parent.awaiting_value:
            self._count(1, len(event.value), event.start_mark)
            parent.size, parent.chars = parent.size + 1, parent.chars + len(event.value)
            self._key(parent, event)
            return
        loc = self._child_loc()
        if loc is not None:
            self.record(loc, event.start_mark, event.style in ("|", ">"))
        value = self._scalar_value(event, loc)
        chars = len(value) if isinstance(value, str) else len(event.value)
        self._count(1, chars, event.start_mark)
        if event.anchor is not None:
            self.anchors[event.anchor] = _Anchored(value, 1, chars, 0, loc)
        self._deliver(value, 1, chars, 0, event.start_mark, loc)

    def _alias(self, event: yaml.AliasEvent) -> None:
        name = str(event.anchor)
        mark = event.start_mark
        anchored = self.anchors.get(name)
        if anchored is None:
            if name in self.open_anchors:
                raise BuildStopped(
                    self._problem(mark, f"alias *{name} is used inside its own anchor &{name}")
                )
            self.problems.append(self._problem(mark, f"alias *{name} has no anchor before it"))
            anchored = _Anchored(None, 1, 0, 0, None)
        self._count(anchored.size, anchored.chars, mark)
        depth = self.stack[-1].depth if self.stack else 0
        if depth + anchored.height > MAX_DEPTH:
            raise BuildStopped(self._too_deep(mark))
        parent = self.stack[-1] if self.stack else None
        if parent is not None and isinstance(parent.value, dict) and not parent.awaiting_value:
            parent.size, parent.chars = parent.size + anchored.size, parent.chars + anchored.chars
            self._take_key(parent, anchored.value, mark, merge=False)
            return
        loc = self._child_loc()
        if loc is not None:
            self.record(loc, mark, False)
            if anchored.loc is not None:
                self.copied(anchored.loc, loc)
        self._deliver(anchored.value, anchored.size, anchored.chars, anchored.height, mark, loc)

    def _start(self, event: yaml.SequenceStartEvent | yaml.MappingStartEvent) -> None:
        mark = event.start_mark
        self._count(1, 0, mark)
        is_map = isinstance(event, yaml.MappingStartEvent)
        if event.tag not in (MAP_TAGS if is_map else SEQ_TAGS):
            kind = "a mapping" if is_map else "a list"
            self.problems.append(self._unsupported(event.tag or "", kind, mark))
        parent = self.stack[-1] if self.stack else None
        depth = (parent.depth if parent else 0) + 1
        if depth > MAX_DEPTH:
            raise BuildStopped(self._too_deep(mark))
        if parent is not None and isinstance(parent.value, dict) and not parent.awaiting_value:
            loc: Loc | None = None  # a list or mapping used as a key: built, then refused
        else:
            loc = self._child_loc()
            if loc is not None:
                self.record(loc, mark, False)
        if event.anchor is not None:
            self.open_anchors.add(event.anchor)
        container: list[Any] | dict[str, Any] = {} if is_map else []
        self.stack.append(_Frame(container, loc, depth, event.anchor, mark))

    def _end(self) -> None:
        frame = self.stack.pop()
        if isinstance(frame.value, dict) and frame.merges:
            self._apply_merges(frame)
        if frame.anchor is not None:
            self.open_anchors.discard(frame.anchor)
            anchored = _Anchored(frame.value, frame.size, frame.chars, frame.height, frame.loc)
            self.anchors[frame.anchor] = anchored
        parent = self.stack[-1] if self.stack else None
        if parent is not None and isinstance(parent.value, dict) and not parent.awaiting_value:
            self._take_key(parent, frame.value, frame.mark, merge=False)
            return
        self._deliver(frame.value, frame.size, frame.chars, frame.height, frame.mark, frame.loc)

    # --- mappings ---------------------------------------------------------------------

    def _key(self, parent: _Frame, event: yaml.ScalarEvent) -> None:
        merge = event.tag is None and event.implicit[0] and event.value == "<<"
        value = None if merge else self._scalar_value(event, None)
        if event.anchor is not None:  # "&k name: …": the key's text may be used elsewhere
            self.anchors[event.anchor] = _Anchored(value, 1, len(event.value), 0, None)
        self._take_key(parent, value, event.start_mark, merge=merge)

    def _take_key(self, parent: _Frame, key: Any, mark: Any, *, merge: bool) -> None:
        parent.awaiting_value = True
        parent.merging = merge
        parent.key_usable = False
        if merge:
            return
        if isinstance(key, bool | int | float | str) and key is not None:
            text = str(key)
            assert isinstance(parent.value, dict)
            if text in parent.value:
                self.problems.append(self._problem(mark, f"duplicate key {text!r}"))
                return
            parent.key, parent.key_usable = text, True
            if parent.loc is not None:
                self.record((*parent.loc, text, self.key_marker), mark, False)
            return
        self.problems.append(self._problem(mark, "mapping keys must be plain scalars"))

    def _apply_merges(self, frame: _Frame) -> None:
        assert isinstance(frame.value, dict)
        for source, mark, source_loc in frame.merges:
            for key, value in source.items():
                if key in frame.value:  # written here, or merged from an earlier source
                    continue
                frame.value[key] = value
                if frame.loc is not None:
                    self.record((*frame.loc, key), mark, False)
                    self.record((*frame.loc, key, self.key_marker), mark, False)
                    if source_loc is not None:
                        self.copied((*source_loc, key), (*frame.loc, key))

    def _merge_sources(
        self, value: Any, mark: Any, loc: Loc | None
    ) -> list[tuple[dict[str, Any], Any, Loc | None]]:
        if isinstance(value, dict):
            return [(value, mark, loc)]
        if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
            return [
                (item, mark, None if loc is None else (*loc, index))
                for index, item in enumerate(value)
            ]
        self.problems.append(
            self._problem(mark, "a merge key '<<' takes a mapping or a list of mappings")
        )
        return []

    # --- values -----------------------------------------------------------------------

    def _child_loc(self) -> Loc | None:
        if not self.stack:
            return ()
        parent = self.stack[-1]
        if parent.loc is None:
            return None
        if isinstance(parent.value, list):
            return (*parent.loc, len(parent.value))
        if parent.merging:
            # Merged values are built (and interpolated) under "<<", then copied into place.
            return (*parent.loc, "<<")
        if not parent.key_usable:
            return None
        return (*parent.loc, parent.key)

    def _deliver(
        self, value: Any, size: int, chars: int, height: int, mark: Any, loc: Loc | None
    ) -> None:
        if not self.stack:
            self.result, self.done = value, True
            return
        parent = self.stack[-1]
        parent.size += size
        parent.chars += chars
        parent.height = max(parent.height, height + 1)
        if isinstance(parent.value, list):
            parent.value.append(value)
            return
        parent.awaiting_value = False
        if parent.merging:
            parent.merges.extend(self._merge_sources(value, mark, loc))
        elif parent.key_usable:
            parent.value[parent.key] = value

    def _scalar_value(self, event: yaml.ScalarEvent, loc: Loc | None) -> Any:
        value, is_text, problem = self.scalars.read(event)
        if problem is not None:
            self.problems.append(self._problem(event.start_mark, problem))
        if is_text and loc is not None:
            return self.scalar_hook(value, loc)
        return value

    # --- bounds and problems ----------------------------------------------------------

    def _count(self, size: int, chars: int, mark: Any) -> None:
        self.count += size
        self.chars += chars
        if self.chars > MAX_TEXT:
            raise BuildStopped(
                self._problem(
                    mark,
                    f"the file expands to more than {MAX_TEXT // (1024 * 1024)} MiB of text "
                    "(aliases count once per use); split it or use fewer aliases",
                )
            )
        if self.count > MAX_VALUES:
            raise BuildStopped(
                self._problem(
                    mark,
                    f"the file expands to more than {MAX_VALUES:,} values "
                    "(aliases count once per use); split it or use fewer aliases",
                )
            )

    def _too_deep(self, mark: Any) -> Problem:
        return self._problem(mark, f"nested more than {MAX_DEPTH} levels deep")

    def _unsupported(self, tag: str, kind: str, mark: Any) -> Problem:
        return self._problem(mark, unsupported(tag, kind))

    def _problem(self, mark: Any, message: str) -> Problem:
        return Problem(self.file, mark.line + 1, mark.column + 1, message)
