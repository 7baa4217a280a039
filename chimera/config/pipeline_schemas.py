"""What JSON Schemas tell us statically: the schema of a field, and the JSON types a value has.

Pipeline checks use this to follow ``steps.X.output.a.b`` into X's ``output_schema`` and to
compare a value's known types with the types a skill's ``input_schema`` wants. Whatever a
schema leaves open (no type, a remote ``$ref``) is *unknown*, and unknown is never an error:
only what the schemas make certain is reported.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: Every JSON type name, in the order messages list them.
JSON_TYPES = ("object", "array", "string", "integer", "number", "boolean", "null")

Schema = Mapping[str, Any]


@dataclass(frozen=True)
class Lookup:
    """The schema found at a path; ``schema`` is None when the shape there is unknown."""

    schema: Schema | None
    problem: str | None = None


def json_type_of(value: Any) -> str:
    """The JSON type name of a plain JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    return "object"


def json_types(schema: Any) -> frozenset[str] | None:
    """The JSON types a value valid for ``schema`` may have; None when the schema does not say."""
    if not isinstance(schema, Mapping):
        return None
    declared = schema.get("type")
    if isinstance(declared, str):
        return frozenset({declared})
    if isinstance(declared, list) and all(isinstance(t, str) for t in declared):
        return frozenset(declared)
    if "const" in schema:
        return frozenset({json_type_of(schema["const"])})
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return frozenset(json_type_of(v) for v in schema["enum"])
    for key in ("anyOf", "oneOf"):
        branches = schema.get(key)
        if isinstance(branches, list) and branches:
            found = [json_types(branch) for branch in branches]
            if any(types is None for types in found):
                return None
            return frozenset().union(*(t for t in found if t is not None))
    branches = schema.get("allOf")
    if isinstance(branches, list):
        known = [t for t in map(json_types, branches) if t is not None]
        if known:
            return frozenset.intersection(*known)
    return None


def compatible(given: frozenset[str], wanted: frozenset[str]) -> bool:
    """Whether a value of one of the ``given`` types can be one of the ``wanted`` types.

    Integers are numbers, and a number may be integral, so the two never conflict.
    """

    def numeric(types: frozenset[str]) -> set[str]:
        return {"number" if t == "integer" else t for t in types}

    return bool(numeric(given) & numeric(wanted))


def describe(types: frozenset[str]) -> str:
    """``an integer``, ``a string or null``: the types in words, in a fixed order."""
    ordered = [t for t in JSON_TYPES if t in types] + sorted(types - set(JSON_TYPES))
    words = [f"{'an' if t[0] in 'aeiou' else 'a'} {t}" if t != "null" else "null" for t in ordered]
    return " or ".join(words)


def field_schema(
    schema: Schema | None,
    path: Sequence[str | int | None],
    *,
    label: str,
    owner: str,
    root: Schema | None = None,
) -> Lookup:
    """Follow ``path`` (object keys, list indexes; None for a subscript known only at runtime).

    Args:
        schema: where to start.
        path: the keys and indexes to follow.
        label: how the start is written in a template, e.g. ``steps.classify.output``.
        owner: whose schema it is, for messages, e.g. ``the output_schema of skill 'classify'``.
        root: the document local ``$ref`` pointers resolve against (``schema`` by default).

    Returns:
        The schema at the end of the path (None when unknown), or the first problem.
    """
    root = schema if root is None else root
    current = schema
    where = label
    for part in path:
        current = deref(current, root)
        if current is None or part is None:
            return Lookup(None)
        types = json_types(current)
        if isinstance(part, int):
            if types is not None and "array" not in types:
                return Lookup(None, f"{where} is {describe(types)}, not a list")
            current = _item(current, part)
            where = f"{where}[{part}]"
            continue
        if types is not None and "object" not in types:
            hint = "; index it, or fan out over it with for_each" if "array" in types else ""
            return Lookup(None, f"{where} is {describe(types)}, not an object{hint}")
        found = _property(current, part, root)
        if found is _MISSING:
            return Lookup(None, _undeclared(current, part, where, owner))
        current = found
        where = f"{where}.{part}"
    return Lookup(deref(current, root))


_MISSING: Any = object()


def _property(schema: Schema, name: str, root: Schema | None) -> Any:
    """The schema of field ``name``; ``None`` if unknown; ``_MISSING`` if not declared."""
    properties = schema.get("properties")
    if isinstance(properties, Mapping) and name in properties:
        return properties[name]
    patterns = schema.get("patternProperties")
    if isinstance(patterns, Mapping):
        for pattern, sub in patterns.items():
            if re.search(pattern, name):
                return sub
    extra = schema.get("additionalProperties")
    if isinstance(extra, Mapping):
        return extra
    declared = False
    combined: dict[str, Any] = {}
    # The field is declared if any branch declares it. Under allOf its value must fit
    # every branch that says something about it; under anyOf/oneOf, one of them.
    for key, joined in (("anyOf", "anyOf"), ("oneOf", "anyOf"), ("allOf", "allOf")):
        matches = []
        for branch in schema.get(key) or []:
            branch = deref(branch, root)
            if branch is None:
                return None
            found = _property(branch, name, root)
            if found is not _MISSING:
                matches.append(found)
        if matches:
            declared = True
            if None in matches:
                return None
            combined.setdefault(joined, []).extend(matches)
    if not declared:
        return _MISSING
    parts = [{key: combined[key]} for key in ("anyOf", "allOf") if key in combined]
    return parts[0] if len(parts) == 1 else {"allOf": parts}


def _item(schema: Schema, index: int) -> Any:
    prefix = schema.get("prefixItems")
    if isinstance(prefix, list) and index < len(prefix):
        return prefix[index]
    items = schema.get("items")
    return items if isinstance(items, Mapping) else None


def deref(schema: Any, root: Schema | None) -> Schema | None:
    """Resolve local ``$ref`` pointers (``#/...``); anything else is unknown (None)."""
    seen = 0
    while isinstance(schema, Mapping) and isinstance(schema.get("$ref"), str):
        ref: str = schema["$ref"]
        seen += 1
        if not ref.startswith("#") or root is None or seen > 32:
            return None
        target: Any = root
        for token in filter(None, ref[1:].split("/")):
            token = token.replace("~1", "/").replace("~0", "~")
            if isinstance(target, Mapping) and token in target:
                target = target[token]
            elif isinstance(target, list) and token.isdigit() and int(token) < len(target):
                target = target[int(token)]
            else:
                return None
        schema = target
    return schema if isinstance(schema, Mapping) else None


def _undeclared(schema: Schema, name: str, where: str, owner: str) -> str:
    properties = schema.get("properties")
    known = sorted(properties) if isinstance(properties, Mapping) else []
    message = f"{owner} declares no field {name!r} in {where}"
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if close:
        message += f"; did you mean {close[0]!r}?"
    if known:
        message += f" (it declares: {', '.join(known)})"
    return message
