"""What shape an object or array the mock makes has: shared by the interpreter and the plans.

:class:`~chimera.services.mock_output.Generator` (which makes each value as it walks the
schema) and :mod:`~chimera.services.mock_compile` (which walks it once into a plan) must
choose the same properties and the same number of items, or the plans would not give the
interpreter's outputs: both ask here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chimera.services.mock_schema import Loc

#: Below this depth every declared property is generated; deeper, only required ones
#: (so a recursive schema, a tree through optional children, ends).
FULL_DEPTH = 6
#: The most properties or items the mock makes for one object or array.
MAX_MEMBERS = 1000


class LayoutError(ValueError):
    """No object or array the mock can make fits the schema; ``loc`` is the keyword at fault."""

    def __init__(self, message: str, loc: Loc) -> None:
        super().__init__(message)
        self.loc = loc


def object_fields(schema: Mapping[str, Any], loc: Loc, depth: int) -> list[tuple[str, Any, Loc]]:
    """The properties of the object made for ``schema``: name, schema and its place, in order.

    Required ones first, then (above :data:`FULL_DEPTH`) the other declared ones, those
    their presence requires, and made-up ``extra_<n>`` ones up to ``minProperties``.

    Raises:
        LayoutError: more are required than ``maxProperties`` allows, ``minProperties`` is
            too large, or a needed property is refused by ``additionalProperties: false``.
    """
    properties = schema.get("properties") or {}
    required = [name for name in schema.get("required") or [] if isinstance(name, str)]
    extra = schema.get("additionalProperties", schema.get("unevaluatedProperties", True))
    names = list(required)
    if depth < FULL_DEPTH:
        names += [name for name in properties if name not in names]
    for name in list(names):
        for needed in (schema.get("dependentRequired") or {}).get(name, []):
            if needed not in names:
                names.append(needed)
    low = int(schema.get("minProperties", 0))
    high = schema.get("maxProperties")
    if high is not None and len(names) > high:
        optional = [n for n in names if n not in required]
        names = [n for n in names if n in required] + optional[: max(0, high - len(required))]
        if len(names) > high:
            raise LayoutError("more required properties than maxProperties", loc)
    if low > MAX_MEMBERS:
        raise LayoutError("minProperties is too large for the mock", loc)
    counter = 0
    while len(names) < low:
        counter += 1
        name = f"extra_{counter}"
        if name not in names and name not in properties:
            names.append(name)
    fields: list[tuple[str, Any, Loc]] = []
    for name in names:
        if name in properties:
            fields.append((name, properties[name], (*loc, "properties", name)))
        elif extra is False:
            raise LayoutError(f"property {name!r} is needed but additionalProperties is false", loc)
        else:
            key = "additionalProperties" if "additionalProperties" in schema else "properties"
            fields.append((name, extra if isinstance(extra, Mapping) else {}, (*loc, key)))
    return fields


def array_items(schema: Mapping[str, Any], loc: Loc, depth: int) -> list[Any]:
    """The schema of each item of the array made for ``schema``, in order.

    Raises:
        LayoutError: ``minItems`` is too large, or asks for more items than the schema
            allows.
    """
    prefix = schema.get("prefixItems")
    items = schema.get("items", {"type": "string"})
    if isinstance(items, list):  # draft 7 and earlier: a list of items is a prefix
        prefix, items = items, schema.get("additionalItems", True)
    prefix = prefix or []
    low = int(schema.get("minItems", 0))
    high = schema.get("maxItems")
    wanted = max(low, len(prefix) if depth < FULL_DEPTH else 0, 1 if depth < 2 else 0)
    if high is not None:
        wanted = min(wanted, int(high))
    if wanted > MAX_MEMBERS:
        raise LayoutError("minItems is too large for the mock", (*loc, "minItems"))
    if wanted > len(prefix) and items is False:
        raise LayoutError("minItems asks for more items than the schema allows", loc)
    return [prefix[index] if index < len(prefix) else items for index in range(wanted)]
