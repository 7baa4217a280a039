"""Outputs the mock backend makes up: valid for the skill's output schema, chosen by a seed.

Supported keywords (everything else that constrains a value is listed by
:func:`chimera.services.mock_checks.unsupported_keywords`, which ``chimera validate`` reports
for mock skills without a fixed ``mock.output``):

- any type: ``type`` (one or a list), ``enum``, ``const``, ``allOf`` (merged), ``anyOf``
  and ``oneOf`` (the first branch that works; for ``oneOf`` one no other branch accepts),
  ``$ref`` to ``#``, ``#/…`` or ``#anchor`` in the same schema;
- strings: ``minLength``, ``maxLength``, ``pattern`` (see :mod:`chimera.services.mock_regex`),
  ``format`` (those in :data:`FORMATS`; jsonschema checks no others, so any text does);
- numbers: ``minimum``, ``maximum``, ``exclusiveMinimum``, ``exclusiveMaximum`` (numbers,
  or draft 4's booleans), ``multipleOf``;
- objects: ``properties``, ``required``, ``additionalProperties``, ``minProperties``,
  ``maxProperties``, ``dependentRequired``, ``unevaluatedProperties``;
- arrays: ``items``, ``prefixItems`` (and draft 7's list form of ``items`` with
  ``additionalItems``), ``minItems``, ``maxItems``, ``uniqueItems``, ``unevaluatedItems``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chimera.models.result import ErrorKind
from chimera.models.types import check_payload_size
from chimera.ports.llm import BackendError
from chimera.services.mock_layout import LayoutError, array_items, object_fields
from chimera.services.mock_schema import (
    Loc,
    Picker,
    merged,
    resolve_ref,
    schema_type,
)
from chimera.services.mock_values import FORMATS, format_value, number_in_range, string_value

__all__ = ["FORMATS", "CannotGenerate", "Generator", "checked", "generate_output"]

#: Deeper than this the schema can only be met by an endless value.
MAX_DEPTH = 32
#: Most steps one output may take; past it the schema asks for too much.
MAX_VALUES = 10_000
#: Values tried per ``oneOf`` branch before deciding it always overlaps another branch.
_BRANCH_TRIES = 4


class CannotGenerate(BackendError):
    """The mock cannot make a value for the schema; ``loc`` is the keyword at fault."""

    def __init__(self, message: str, loc: Loc = ()) -> None:
        super().__init__(f"the mock backend cannot generate output: {message}", ErrorKind.BACKEND)
        self.reason = message
        self.loc = loc


def generate_output(schema: Mapping[str, Any], seed: str) -> Any:
    """Make a value valid for ``schema``, the same one for the same ``seed``.

    Raises:
        CannotGenerate: the schema uses a keyword the mock cannot satisfy, or asks for
            something no value (or no value the mock can build) satisfies.
    """
    return checked(Generator(schema, seed).value(schema, (), "$", 0))


def checked(output: Any) -> Any:
    """``output``, once it is known to fit the payload limits the Worker sends on."""
    try:
        check_payload_size(output if isinstance(output, dict) else {"output": output})
    except ValueError as exc:  # a value from enum/const the Worker could not send on
        raise CannotGenerate(f"the output breaks the payload limits: {exc}") from None
    return output


class Generator:
    """The interpretive walk: one per output, ``value`` called on the root schema."""

    def __init__(self, root: Mapping[str, Any], seed: str) -> None:
        self.root = root
        self.pick = Picker(seed)
        self.count = 0

    def value(self, schema: Any, loc: Loc, path: str, depth: int) -> Any:
        """A value for ``schema`` (found at ``loc``) placed at JSON ``path``."""
        self._spend(loc)
        if depth > MAX_DEPTH:
            raise CannotGenerate(
                f"output_schema requires values nested more than {MAX_DEPTH} deep "
                "(a $ref through required properties?)",
                loc,
            )
        if schema is True or schema == {}:
            return self._text(path)
        if not isinstance(schema, Mapping):
            raise CannotGenerate("the schema 'false' accepts no value", loc)
        schema, loc = self.flatten(schema, loc)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            options = list(schema["enum"])
            if not options:
                raise CannotGenerate("'enum' is empty", (*loc, "enum"))
            return options[self.pick(path, len(options))]
        for keyword in ("anyOf", "oneOf"):
            if keyword in schema:
                return self._branch(schema, keyword, loc, path, depth)
        kind = schema_type(schema)
        if kind is None:
            raise CannotGenerate("'type' allows no type the other keywords fit", loc)
        if kind == "object":
            return self._object(schema, loc, path, depth)
        if kind == "array":
            return self._array(schema, loc, path, depth)
        if kind in ("integer", "number"):
            return self._number(schema, kind, loc, path)
        if kind == "boolean":
            return self.pick(path, 2) == 1
        if kind == "null":
            return None
        return self._string(schema, loc, path)

    def _text(self, path: str) -> str:
        return f"mock {path.rsplit('.', 1)[-1]} {self.pick.seed[:8]}"

    def flatten(
        self, schema: Mapping[str, Any], loc: Loc, hops: int = 0
    ) -> tuple[Mapping[str, Any], Loc]:
        """Follow ``$ref`` and merge ``allOf`` until neither is left at the top."""
        self._spend(loc)
        if hops > MAX_DEPTH:
            raise CannotGenerate("$ref and allOf nest too deeply", loc)
        if "$ref" in schema:
            target, target_loc = resolve_ref(self.root, schema["$ref"])
            if not isinstance(target, Mapping | bool):
                raise CannotGenerate(f"$ref {str(schema['$ref'])[:80]!r} cannot be followed", loc)
            if target is False:
                raise CannotGenerate("$ref leads to the schema 'false'", loc)
            flat, flat_loc = self.flatten(
                target if target is not True else {}, target_loc, hops + 1
            )
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            if not rest:
                return flat, flat_loc
            rest_flat, _ = self.flatten(rest, loc, hops + 1)
            return merged([rest_flat, flat]), loc
        if "allOf" in schema:
            parts = [{k: v for k, v in schema.items() if k != "allOf"}, *schema["allOf"]]
            flat_parts: list[Mapping[str, Any]] = []
            for index, part in enumerate(parts):
                if part is False:
                    raise CannotGenerate("'allOf' holds the schema 'false'", (*loc, "allOf"))
                if isinstance(part, Mapping):
                    part_loc = loc if index == 0 else (*loc, "allOf", index - 1)
                    flat_parts.append(self.flatten(part, part_loc, hops + 1)[0])
            return merged(flat_parts), loc
        return schema, loc

    def _spend(self, loc: Loc) -> None:
        self.count += 1
        if self.count > MAX_VALUES:
            raise CannotGenerate(f"the output would take more than {MAX_VALUES} steps", loc)

    def _branch(
        self, schema: Mapping[str, Any], keyword: str, loc: Loc, path: str, depth: int
    ) -> Any:
        rest = {k: v for k, v in schema.items() if k != keyword}
        reasons: list[str] = []
        branches = schema[keyword]
        for index, branch in enumerate(branches):
            if branch is False:
                continue
            option = merged([rest, branch]) if isinstance(branch, Mapping) else rest
            for attempt in range(_BRANCH_TRIES):
                salted = path if attempt == 0 else f"{path}~{attempt}"
                try:
                    candidate = self.value(option, (*loc, keyword, index), salted, depth)
                except CannotGenerate as exc:
                    reasons.append(exc.reason)
                    break
                if keyword == "anyOf" or self._only_match(candidate, branches, index):
                    return candidate
            else:
                reasons.append(f"its values for branch {index} also match another branch")
        detail = f": {reasons[0]}" if reasons else ""
        raise CannotGenerate(f"no branch of {keyword!r} could be generated{detail}", loc)

    def _only_match(self, candidate: Any, branches: list[Any], chosen: int) -> bool:
        from chimera.config.swarm import compile_validator

        validator = compile_validator(self.root)
        return not any(
            validator.evolve(schema=branch).is_valid(candidate)
            for index, branch in enumerate(branches)
            if index != chosen
        )

    def _object(self, schema: Mapping[str, Any], loc: Loc, path: str, depth: int) -> Any:
        try:
            fields = object_fields(schema, loc, depth)
        except LayoutError as exc:
            raise CannotGenerate(str(exc), exc.loc) from None
        return {
            name: self.value(sub, sub_loc, f"{path}.{name}", depth + 1)
            for name, sub, sub_loc in fields
        }

    def _array(self, schema: Mapping[str, Any], loc: Loc, path: str, depth: int) -> Any:
        try:
            subs = array_items(schema, loc, depth)
        except LayoutError as exc:
            raise CannotGenerate(str(exc), exc.loc) from None
        out: list[Any] = []
        for index, sub in enumerate(subs):
            item_path = f"{path}[{index}]"
            value = self.value(sub, (*loc, "items"), item_path, depth + 1)
            if schema.get("uniqueItems"):
                value = self._distinct(value, out, sub, loc, item_path, depth)
            out.append(value)
        return out

    def _distinct(
        self, value: Any, earlier: list[Any], sub: Any, loc: Loc, path: str, depth: int
    ) -> Any:
        for attempt in range(20):
            if all(not json_equal(value, seen) for seen in earlier):
                return value
            value = self.value(sub, (*loc, "items"), f"{path}~{attempt}", depth + 1)
        raise CannotGenerate("uniqueItems: not enough distinct values", (*loc, "uniqueItems"))

    def _number(self, schema: Mapping[str, Any], kind: str, loc: Loc, path: str) -> Any:
        try:
            return number_in_range(schema, kind == "integer", self.pick(path, 1 << 30))
        except ValueError as exc:
            raise CannotGenerate(str(exc), loc) from None

    def _string(self, schema: Mapping[str, Any], loc: Loc, path: str) -> str:
        try:
            if "format" in schema and schema["format"] in FORMATS:
                return format_value(schema, self.pick, path)
            return string_value(schema, self.pick, path, self._text(path))
        except ValueError as exc:
            keyword = next((k for k in ("pattern", "format") if k in schema), "maxLength")
            raise CannotGenerate(str(exc), (*loc, keyword)) from None


def json_equal(a: Any, b: Any) -> bool:
    """Equality as JSON Schema sees it (``1`` equals ``1.0``, ``true`` does not equal ``1``)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(json_equal, a, b))
    return bool(a == b)
