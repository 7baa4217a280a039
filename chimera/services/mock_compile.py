"""The compiler of the mock's output plans: the generator's walk, done once per schema.

:class:`_Compiler` mirrors :class:`~chimera.services.mock_output.Generator` step for step,
but where the generator picks a value it leaves a closure that picks it by the seed. What
the walk decides without the seed (which properties an object gets, the paths values are
picked at, a string's text before the seed, an integer's range, the steps counted against
the generator's limit) is decided here once. :mod:`chimera.services.mock_plan` keeps and
runs the plans.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic_core import to_json

from chimera.models.types import MAX_PAYLOAD_BYTES, MAX_PAYLOAD_DEPTH
from chimera.services.mock_layout import LayoutError, array_items, object_fields
from chimera.services.mock_output import (
    MAX_DEPTH,
    MAX_VALUES,
    CannotGenerate,
    Generator,
    json_equal,
)
from chimera.services.mock_schema import Loc, Picker, merged, schema_type
from chimera.services.mock_values import (
    FORMATS,
    MAX_LENGTH,
    as_number,
    format_value,
    integer_range,
    number_in_range,
    string_value,
)

__all__ = ["Bail", "Plan", "compile_plan"]

Make = Callable[[Picker], Any]

#: Longest value any format makes (a bound for the payload check, with room to spare).
_FORMAT_CHARS = 256


class _Unplanned(Exception):
    """Compiling stops: only the interpreter can make values for this schema."""


class Bail(Exception):
    """The seed led where the plan does not follow; the interpreter makes the output."""


@dataclass(frozen=True)
class Plan:
    """A compiled output schema.

    Attributes:
        make: the interpreter's value for the seed the picker holds (or raises ``Bail``).
        small: every value fits the payload limits, so it needs no check.
    """

    make: Make
    small: bool


@dataclass(frozen=True)
class _Node:
    make: Make
    size: int  # most bytes the value's JSON can take
    depth: int  # most nesting (a scalar is 0)


def compile_plan(schema: Mapping[str, Any]) -> Plan | None:
    """Walk ``schema`` once into a plan; ``None`` where only the interpreter can follow it."""
    compiler = _Compiler(schema)
    try:
        node = compiler.node(schema, (), "$", 0)
    except Exception:  # the interpreter raises what the schema deserves
        return None
    # check_payload_size measures a non-object output inside {"output": …}.
    size, depth = node.size + 12, node.depth + 1
    return Plan(node.make, size <= MAX_PAYLOAD_BYTES and depth <= MAX_PAYLOAD_DEPTH)


def _text_size(chars: int) -> int:
    # JSON escapes a control character in six bytes; others take at most four.
    return 6 * chars + 2


class _Compiler:
    """Mirrors :class:`~chimera.services.mock_output.Generator` step for step."""

    def __init__(self, root: Mapping[str, Any]) -> None:
        self.walker = Generator(root, "")
        self.cost = 0

    def _spend(self, steps: int) -> None:
        # The interpreter counts the same steps on the same way; past its limit it fails.
        self.cost += steps
        if self.cost > MAX_VALUES:
            raise _Unplanned

    def node(self, schema: Any, loc: Loc, path: str, depth: int) -> _Node:
        self._spend(1)
        if depth > MAX_DEPTH:
            raise _Unplanned
        if schema is True or schema == {}:
            return self._text(path)
        if not isinstance(schema, Mapping):
            raise _Unplanned
        self.walker.count = 0
        schema, loc = self.walker.flatten(schema, loc)
        self._spend(self.walker.count)
        if "const" in schema:
            const = schema["const"]
            return _Node(lambda pick: const, len(to_json(const)), len(to_json(const)))
        if "enum" in schema:
            options = list(schema["enum"])
            if not options:
                raise _Unplanned
            count = len(options)
            size = max(len(to_json(option)) for option in options)
            return _Node(lambda pick: options[pick(path, count)], size, size)
        if "anyOf" in schema:
            return self._first_branch(schema, loc, path, depth)
        if "oneOf" in schema:
            raise _Unplanned
        kind = schema_type(schema)
        if kind is None:
            raise _Unplanned
        if kind == "object":
            return self._object(schema, loc, path, depth)
        if kind == "array":
            return self._array(schema, loc, path, depth)
        if kind in ("integer", "number"):
            return self._number(schema, kind == "integer", path)
        if kind == "boolean":
            return _Node(lambda pick: pick(path, 2) == 1, 5, 0)
        if kind == "null":
            return _Node(lambda pick: None, 4, 0)
        return self._string(schema, path)

    def _text(self, path: str) -> _Node:
        prefix = f"mock {path.rsplit('.', 1)[-1]} "
        return _Node(lambda pick: prefix + pick.seed[:8], _text_size(len(prefix) + 8), 0)

    def _first_branch(self, schema: Mapping[str, Any], loc: Loc, path: str, depth: int) -> _Node:
        # anyOf takes the first branch that generates; the plan follows the first branch,
        # and a schema where that fails goes to the interpreter.
        rest = {k: v for k, v in schema.items() if k != "anyOf"}
        for index, branch in enumerate(schema["anyOf"]):
            if branch is False:
                continue
            option = merged([rest, branch]) if isinstance(branch, Mapping) else rest
            return self.node(option, (*loc, "anyOf", index), path, depth)
        raise _Unplanned

    def _object(self, schema: Mapping[str, Any], loc: Loc, path: str, depth: int) -> _Node:
        try:
            layout = object_fields(schema, loc, depth)
        except LayoutError:
            raise _Unplanned from None
        fields = [
            (name, self.node(sub, sub_loc, f"{path}.{name}", depth + 1))
            for name, sub, sub_loc in layout
        ]
        makes = tuple((name, node.make) for name, node in fields)
        size = 2 + sum(_text_size(len(str(name))) + 2 + node.size for name, node in fields)
        nesting = 1 + max((node.depth for _, node in fields), default=0)
        if len(makes) == 1:
            ((only, make),) = makes
            return _Node(lambda pick: {only: make(pick)}, size, nesting)
        return _Node(lambda pick: {name: make(pick) for name, make in makes}, size, nesting)

    def _array(self, schema: Mapping[str, Any], loc: Loc, path: str, depth: int) -> _Node:
        try:
            subs = array_items(schema, loc, depth)
        except LayoutError:
            raise _Unplanned from None
        nodes = [
            self.node(sub, (*loc, "items"), f"{path}[{index}]", depth + 1)
            for index, sub in enumerate(subs)
        ]
        makes = tuple(node.make for node in nodes)
        size = 2 + sum(node.size + 1 for node in nodes)
        nesting = 1 + max((node.depth for node in nodes), default=0)
        if not schema.get("uniqueItems"):
            return _Node(lambda pick: [make(pick) for make in makes], size, nesting)

        def distinct(pick: Picker) -> list[Any]:
            out: list[Any] = []
            for make in makes:
                value = make(pick)
                if any(json_equal(value, seen) for seen in out):
                    raise Bail  # the interpreter draws again under another salt
                out.append(value)
            return out

        return _Node(distinct, size, nesting)

    def _number(self, schema: Mapping[str, Any], integer: bool, path: str) -> _Node:
        span = integer_range(schema)
        if span is None:

            def bounded(pick: Picker) -> Any:
                try:
                    return number_in_range(schema, integer, pick(path, 1 << 30))
                except ValueError:
                    raise Bail from None

            return _Node(bounded, MAX_PAYLOAD_BYTES + 1, 0)
        first, last = span
        count = last - first + 1
        # A float's JSON takes at most 24 bytes; an integer's, its digits.
        size = max(len(str(first)), len(str(last))) + 24
        if integer:
            return _Node(lambda pick: first + pick(path, 1 << 30) % count, size, 0)
        return _Node(lambda pick: as_number(first + pick(path, 1 << 30) % count), size, 0)

    def _string(self, schema: Mapping[str, Any], path: str) -> _Node:
        high = schema.get("maxLength")
        if "format" in schema and schema["format"] in FORMATS:

            def formatted(pick: Picker) -> str:
                try:
                    return format_value(schema, pick, path)
                except ValueError:
                    raise Bail from None

            return _Node(formatted, _text_size(_FORMAT_CHARS if high is None else int(high)), 0)
        prefix = f"mock {path.rsplit('.', 1)[-1]} "
        if isinstance(schema.get("pattern"), str):

            def sampled(pick: Picker) -> str:
                try:
                    return string_value(schema, pick, path, prefix + pick.seed[:8])
                except ValueError:
                    raise Bail from None

            low = int(schema.get("minLength", 0))
            longest = max(low, 1) + MAX_LENGTH if high is None else int(high)
            return _Node(sampled, _text_size(longest), 0)
        # Without a pattern, string_value's only failures do not depend on the seed.
        string_value(schema, _no_pick, path, prefix)
        low = int(schema.get("minLength", 0))
        longest = max(low, 1) + MAX_LENGTH if high is None else int(high)
        size = _text_size(max(low, len(prefix) + 8))
        if low <= len(prefix) and len(prefix) + 8 <= longest:
            # The seed's text already fits: nothing to pad, nothing to cut.
            return _Node(lambda pick: prefix + pick.seed[:8], size, 0)
        return _Node(lambda pick: string_value(schema, pick, path, prefix + pick.seed[:8]), size, 0)


def _no_pick(salt: str, n: int) -> int:
    raise CannotGenerate("a plain string needs no pick")
