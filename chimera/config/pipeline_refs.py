"""What a pipeline template reads, found in its Jinja syntax tree.

A *reference* is a chain of attribute and subscript lookups starting at a variable, such as
``steps.classify.output.category`` or ``input.questions[0]``. The checks follow each chain
into the schema it points at; :func:`value_schema` also guesses what a whole expression
evaluates to, where the syntax makes that certain.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from jinja2 import nodes

from chimera.config.pipeline_schemas import Schema, json_type_of, json_types

#: A key or index of a reference; None for a subscript only known at runtime.
Part = str | int | None


@dataclass(frozen=True)
class Reference:
    """A lookup chain from a variable: ``root`` then ``path``, at ``lineno`` of its template."""

    root: str
    path: tuple[Part, ...]
    lineno: int

    @property
    def text(self) -> str:
        """The chain as a user would write it, e.g. ``steps.a.output[0].b``."""
        out = self.root
        for part in self.path:
            if part is None:
                return out + "[...]"
            out += f"[{part}]" if isinstance(part, int) else f".{part}"
        return out


def references(node: nodes.Node, roots: frozenset[str] | None = None) -> list[Reference]:
    """Every maximal lookup chain in ``node`` that starts at a variable (in ``roots``).

    A chain that is called (``x.items()``) loses its last part: that part is a method, not a
    field. A chain stops at the first subscript whose key is not a constant.
    """
    inner: set[int] = set()
    called: set[int] = set()
    every = list(_walk(node))
    for item in every:
        if isinstance(item, nodes.Getattr | nodes.Getitem):
            inner.add(id(item.node))
        elif isinstance(item, nodes.Call):
            called.add(id(item.node))
    found = []
    for item in every:
        if id(item) in inner or not isinstance(item, nodes.Getattr | nodes.Getitem | nodes.Name):
            continue
        ref = chain(item)
        if ref is None or (roots is not None and ref.root not in roots):
            continue
        if id(item) in called and ref.path:
            ref = Reference(ref.root, ref.path[:-1], ref.lineno)
        found.append(ref)
    return found


def chain(node: nodes.Node) -> Reference | None:
    """The reference ``node`` is, when it is a lookup chain on a loaded variable."""
    parts: list[Part] = []
    current = node
    while isinstance(current, nodes.Getattr | nodes.Getitem):
        if isinstance(current, nodes.Getattr):
            parts.append(current.attr)
        else:
            arg = current.arg
            key = arg.value if isinstance(arg, nodes.Const) else None
            parts.append(key if isinstance(key, str | int) and not isinstance(key, bool) else None)
        current = current.node
    if not isinstance(current, nodes.Name) or current.ctx != "load":
        return None
    parts.reverse()
    if None in parts:
        parts = parts[: parts.index(None) + 1]
    return Reference(current.name, tuple(parts), node.lineno)


def _walk(node: nodes.Node) -> Iterator[nodes.Node]:
    yield node
    yield from node.find_all(nodes.Node)


#: Filters whose result type does not depend on their input.
_FILTER_TYPES = {
    "length": "integer",
    "count": "integer",
    "int": "integer",
    "float": "number",
    "round": "number",
    "abs": "number",
    "sum": "number",
    "string": "string",
    "join": "string",
    "upper": "string",
    "lower": "string",
    "title": "string",
    "capitalize": "string",
    "trim": "string",
    "replace": "string",
    "format": "string",
    "truncate": "string",
    "tojson": "string",
    "wordcount": "integer",
    "list": "array",
    "map": "array",
    "select": "array",
    "reject": "array",
    "selectattr": "array",
    "rejectattr": "array",
    "batch": "array",
    "slice": "array",
    "dictsort": "array",
    "items": "array",
}

#: Filters that give back their input's shape (a list stays the same kind of list).
_SAME_SHAPE = frozenset({"sort", "unique", "reverse"})


def value_schema(node: nodes.Node, resolve: Callable[[Reference], Schema | None]) -> Schema | None:
    """A schema for what ``node`` evaluates to, or None when that is not known statically.

    Args:
        node: an expression.
        resolve: the schema a reference points at (None when unknown).
    """
    if isinstance(node, nodes.Name | nodes.Getattr | nodes.Getitem):
        ref = chain(node)
        if ref is None or None in ref.path:
            return None
        return resolve(ref)
    if isinstance(node, nodes.Const):
        return {"type": json_type_of(node.value)}
    if isinstance(node, nodes.List | nodes.Tuple):
        return {"type": "array"}
    if isinstance(node, nodes.Dict):
        return {"type": "object"}
    if isinstance(node, nodes.Compare | nodes.Not | nodes.Test):
        return {"type": "boolean"}
    if isinstance(node, nodes.Concat):
        return {"type": "string"}
    if isinstance(node, nodes.Filter):
        return _filter_schema(node, resolve)
    if isinstance(node, nodes.CondExpr) and node.expr2 is not None:
        one, other = value_schema(node.expr1, resolve), value_schema(node.expr2, resolve)
        return None if one is None or other is None else {"anyOf": [one, other]}
    return None


def _filter_schema(
    node: nodes.Filter, resolve: Callable[[Reference], Schema | None]
) -> Schema | None:
    if node.name in _FILTER_TYPES:
        return {"type": _FILTER_TYPES[node.name]}
    source = value_schema(node.node, resolve) if node.node is not None else None
    if node.name in _SAME_SHAPE:
        return source
    if node.name in ("first", "last") and source is not None:
        types = json_types(source)
        items = source.get("items")
        if types == frozenset({"array"}) and isinstance(items, dict):
            return items
    return None
