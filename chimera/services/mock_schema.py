"""Schema plumbing for the mock's output generator: seeded choices, types, refs, merges."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

Loc = tuple[str | int, ...]

#: Keywords that constrain a value and that the generator does not try to satisfy.
UNSUPPORTED = frozenset(
    {
        "not",
        "if",
        "then",
        "else",
        "patternProperties",
        "propertyNames",
        "contains",
        "minContains",
        "maxContains",
        "dependentSchemas",
        "dependencies",
        "$dynamicRef",
        "$recursiveRef",
    }
)

_TYPE_HINTS = (
    ("object", ("properties", "required", "additionalProperties", "minProperties")),
    ("array", ("items", "prefixItems", "minItems", "maxItems", "uniqueItems")),
    ("number", ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")),
    ("string", ("minLength", "maxLength", "pattern", "format")),
)
_LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")


class Picker:
    """Deterministic choices: the same seed and salt always pick the same number."""

    def __init__(self, seed: str) -> None:
        self.seed = seed

    def __call__(self, salt: str, n: int) -> int:
        """A number in ``range(n)`` (0 when ``n`` < 1) chosen by the seed and ``salt``."""
        digest = hashlib.blake2b(f"{self.seed}:{salt}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") % max(1, n)


def schema_type(schema: Mapping[str, Any]) -> str | None:
    """The JSON type to generate: the declared one (first non-null), or one implied."""
    declared: Any = schema.get("type")
    if isinstance(declared, str):
        return str(declared)
    if isinstance(declared, list):
        if not declared:
            return None
        implied = _implied_type(schema)
        if implied in declared or (implied == "number" and "integer" in declared):
            return implied if implied in declared else "integer"
        return str(next((t for t in declared if t != "null"), declared[0]))
    return _implied_type(schema) or "string"


def _implied_type(schema: Mapping[str, Any]) -> str | None:
    for kind, keywords in _TYPE_HINTS:
        if any(keyword in schema for keyword in keywords):
            return kind
    return None


def resolve_ref(root: Mapping[str, Any], ref: Any) -> tuple[Any, Loc]:
    """Follow a ``#``, ``#/pointer`` or ``#anchor`` reference within ``root``."""
    if not isinstance(ref, str) or not ref.startswith("#"):
        return None, ()
    fragment = unquote(ref[1:])
    if fragment and not fragment.startswith("/"):
        return _anchor(root, fragment)
    value: Any = root
    loc: Loc = ()
    for token in fragment.split("/")[1:] if fragment else []:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(value, Mapping) and token in value:
            value, loc = value[token], (*loc, token)
        elif isinstance(value, list) and token.isdigit() and int(token) < len(value):
            value, loc = value[int(token)], (*loc, int(token))
        else:
            return None, ()
    return value, loc


def _anchor(root: Mapping[str, Any], name: str) -> tuple[Any, Loc]:
    stack: list[tuple[Loc, Any]] = [((), root)]
    while stack:
        loc, value = stack.pop()
        if isinstance(value, Mapping):
            if value.get("$anchor") == name or value.get("$id") == f"#{name}":
                return value, loc
            stack.extend(((*loc, key), child) for key, child in value.items())
        elif isinstance(value, list):
            stack.extend(((*loc, i), child) for i, child in enumerate(value))
    return None, ()


def merged(parts: list[Mapping[str, Any]]) -> dict[str, Any]:
    """One schema that asks for what all of ``parts`` ask (for ``allOf``), as far as it can.

    Bounds tighten (largest minimum, smallest maximum), ``required`` and ``properties``
    unite (a property in several parts is merged the same way), ``type`` and ``enum``
    intersect. Other keywords come from the first part that has them; the load-time trial
    run of the generator reports the rare combinations this cannot express.
    """
    out: dict[str, Any] = {}
    for part in parts:
        for keyword, value in part.items():
            if keyword not in out:
                out[keyword] = value
            elif keyword in _LOWER_BOUNDS and _is_number(value) and _is_number(out[keyword]):
                out[keyword] = max(out[keyword], value)
            elif keyword in _UPPER_BOUNDS and _is_number(value) and _is_number(out[keyword]):
                out[keyword] = min(out[keyword], value)
            elif keyword == "required" and isinstance(value, list):
                out[keyword] = list(dict.fromkeys([*out[keyword], *value]))
            elif keyword == "properties" and isinstance(value, Mapping):
                out[keyword] = _merge_properties(out[keyword], value)
            elif keyword == "type":
                out[keyword] = _merge_types(out[keyword], value)
            elif keyword == "enum" and isinstance(value, list):
                out[keyword] = [v for v in out[keyword] if v in value]
            elif keyword in ("additionalProperties", "items") and value is False:
                out[keyword] = False
    return out


def _merge_properties(first: Mapping[str, Any], second: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(first)
    for name, schema in second.items():
        if name in out and isinstance(out[name], Mapping) and isinstance(schema, Mapping):
            out[name] = {"allOf": [out[name], schema]}
        else:
            out.setdefault(name, schema)
    return out


def _merge_types(first: Any, second: Any) -> list[str]:
    def as_set(value: Any) -> set[str]:
        kinds = {value} if isinstance(value, str) else set(value)
        return kinds | {"integer"} if "number" in kinds else kinds

    both = as_set(first) & as_set(second)
    order = ["object", "array", "string", "integer", "number", "boolean", "null"]
    return [kind for kind in order if kind in both]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
