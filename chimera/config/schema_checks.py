"""Checks on a skill's JSON Schemas beyond "is it a schema": regexes, dialect, ``$ref``.

jsonschema checks a schema against its metaschema, but three kinds of schema pass that
check and then fail on the first task, in a worker, as a traceback:

- a ``pattern`` Python cannot compile within its limits (``a{99999999999}``, thousands of
  nested groups) makes the metaschema's own regex check raise;
- a ``$ref`` to anything outside the file (``https://…``, ``other.json``) is unresolvable:
  chimera never fetches a schema, so such a reference is refused here;
- a ``$ref`` that leads back to the schema it is in without descending into the value
  (``$ref: '#'``, or through ``allOf``/``anyOf``…) recurses forever on any value.

References are resolved the way jsonschema does for the forms supported: ``#``, a JSON
pointer ``#/…`` and an anchor ``#name``, relative to the nearest enclosing schema with
an ``$id``. Recursion *through* ``properties``, ``items`` and the like is fine: each step
consumes a level of the value, and values are at most 64 levels deep.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from jsonschema.exceptions import SchemaError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for

from chimera.config.yaml_source import KEY, Loc

#: Keywords holding a map of subschemas, and whether those apply to the same value.
_SCHEMA_MAPS = {
    "properties": False,
    "patternProperties": False,
    "$defs": False,
    "definitions": False,
    "dependentSchemas": True,
    "dependencies": True,
}
#: Keywords holding a list of subschemas, and whether those apply to the same value.
_SCHEMA_LISTS = {"allOf": True, "anyOf": True, "oneOf": True, "prefixItems": False}
#: Keywords holding one subschema, and whether it applies to the same value.
_SCHEMA_ONE = {
    "not": True,
    "if": True,
    "then": True,
    "else": True,
    "items": False,
    "additionalItems": False,
    "unevaluatedItems": False,
    "contains": False,
    "additionalProperties": False,
    "unevaluatedProperties": False,
    "propertyNames": False,
    "contentSchema": False,
}
_REF_KEYWORDS = ("$ref", "$dynamicRef", "$recursiveRef")
_ANCHOR_KEYWORDS = ("$anchor", "$dynamicAnchor")

Found = tuple[Loc, str]

_ENDLESS = (
    "{keyword} leads back to a schema it is part of without descending into the value: "
    "checking any value would never end"
)


def dialect_problem(schema: Mapping[str, Any]) -> Found | None:
    """A problem with ``$schema`` (not a string, or no draft jsonschema knows), if any."""
    if "$schema" not in schema:
        return None
    dialect = schema["$schema"]
    if not isinstance(dialect, str):
        return ("$schema",), "$schema must be a string naming a JSON Schema draft"
    sentinel: Any = object()
    if validator_for(schema, default=sentinel) is sentinel:
        return ("$schema",), (
            f"unknown $schema {dialect[:80]!r}; expected a JSON Schema draft URI such as "
            "'https://json-schema.org/draft/2020-12/schema'"
        )
    return None


def pattern_problems(schema: Any) -> list[Found]:
    """Every ``pattern`` and ``patternProperties`` key Python cannot compile."""
    found: list[Found] = []
    for loc, sub in _subschemas(schema, ()):
        pattern = sub.get("pattern")
        if isinstance(pattern, str):
            error = regex_error(pattern)
            if error:
                found.append(((*loc, "pattern"), f"pattern {pattern[:60]!r} {error}"))
        names = sub.get("patternProperties")
        if isinstance(names, Mapping):
            for name in names:
                error = regex_error(str(name))
                if error:
                    loc_key = (*loc, "patternProperties", name, KEY)
                    found.append((loc_key, f"patternProperties key {str(name)[:60]!r} {error}"))
    return found


def regex_error(pattern: str) -> str | None:
    """Why ``pattern`` is not a usable Python regular expression, or ``None``."""
    try:
        re.compile(pattern)
    except re.error as exc:
        return f"is not a valid regular expression: {exc}"
    except (OverflowError, RecursionError, ValueError, MemoryError):
        return "is too large or too deeply nested to compile"
    return None


def check_schema_problems(schema: Mapping[str, Any], cls: type[Validator]) -> list[Found]:
    """Check ``schema`` against its metaschema; a problem at the keyword at fault."""
    try:
        cls.check_schema(dict(schema))
    except SchemaError as exc:
        return [(tuple(exc.path), f"is not a valid JSON Schema: {exc.message}")]
    except RecursionError:
        return [((), "is nested too deeply to check")]
    return []


@dataclass
class _Graph:
    schemas: dict[Loc, Any] = field(default_factory=dict)
    resource: dict[Loc, Loc] = field(default_factory=dict)
    anchors: dict[tuple[Loc, str], Loc] = field(default_factory=dict)
    same_value: dict[Loc, list[Loc]] = field(default_factory=dict)
    ref_keyword: dict[tuple[Loc, Loc], str] = field(default_factory=dict)


def reference_problems(schema: Mapping[str, Any]) -> list[Found]:
    """Remote, unresolvable and endlessly recursive references in ``schema``."""
    graph = _Graph()
    problems: list[Found] = []
    pending: list[tuple[Loc, Any, Loc]] = [((), schema, ())]
    while pending:
        loc, root, resource = pending.pop()
        _index(graph, loc, root, resource)
        for at, sub in list(_subschemas(root, loc)):
            for keyword in _REF_KEYWORDS:
                ref = sub.get(keyword)
                if not isinstance(ref, str):
                    continue
                target, problem = _resolve(graph, graph.resource.get(at, ()), ref)
                if problem:
                    problems.append(((*at, keyword), f"{keyword} {ref[:80]!r} {problem}"))
                    continue
                assert target is not None
                if target not in graph.schemas:
                    value = _follow(schema, target)
                    pending.append((target, value, graph.resource.get(at, ())))
                graph.same_value.setdefault(at, []).append(target)
                graph.ref_keyword[(at, target)] = keyword
    return problems + _cycles(graph)


def _index(graph: _Graph, start: Loc, root: Any, resource: Loc) -> None:
    stack: list[tuple[Loc, Any, Loc]] = [(start, root, resource)]
    while stack:
        loc, sub, base = stack.pop()
        if loc in graph.schemas:
            continue
        graph.schemas[loc] = sub
        if not isinstance(sub, Mapping):
            continue
        sub_id = sub.get("$id")
        if isinstance(sub_id, str) and not sub_id.startswith("#"):
            base = loc  # an embedded resource: '#…' inside it is relative to it
        graph.resource[loc] = base
        for keyword in _ANCHOR_KEYWORDS:
            name = sub.get(keyword)
            if isinstance(name, str):
                graph.anchors[(base, name)] = loc
        if isinstance(sub_id, str) and sub_id.startswith("#") and len(sub_id) > 1:
            graph.anchors[(base, sub_id[1:])] = loc  # draft 6/7: "$id": "#name"
        for suffix, child, same in _children(sub):
            child_loc = (*loc, *suffix)
            if same:
                graph.same_value.setdefault(loc, []).append(child_loc)
            stack.append((child_loc, child, base))


def _resolve(graph: _Graph, resource: Loc, ref: str) -> tuple[Loc | None, str | None]:
    if not ref.startswith("#"):
        return None, (
            "points outside this file; chimera never fetches schemas: copy it under "
            "$defs and refer to it as '#/$defs/…'"
        )
    fragment = unquote(ref[1:])
    if fragment and not fragment.startswith("/"):
        target = graph.anchors.get((resource, fragment))
        if target is None:
            return None, "names an anchor no schema in this file declares"
        return target, None
    loc: Loc = resource
    value = graph.schemas.get(resource)
    for token in fragment.split("/")[1:] if fragment else []:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(value, Mapping) and token in value:
            loc, value = (*loc, token), value[token]
        elif isinstance(value, list) and token.isdigit() and int(token) < len(value):
            loc, value = (*loc, int(token)), value[int(token)]
        else:
            return None, "points to nothing in this schema"
    if not isinstance(value, Mapping | bool):
        return None, "does not point to a schema"
    return loc, None


def _follow(schema: Any, loc: Loc) -> Any:
    value = schema
    for part in loc:
        value = value[part]
    return value


def _cycles(graph: _Graph) -> list[Found]:
    """Refs that close a loop of same-value edges (iterative depth-first search)."""
    state: dict[Loc, int] = {}  # 1: on the current path, 2: done
    found: list[Found] = []
    reported: set[Loc] = set()
    for start in graph.same_value:
        if start in state:
            continue
        stack: list[tuple[Loc, Iterator[Loc]]] = [(start, iter(graph.same_value.get(start, [])))]
        state[start] = 1
        while stack:
            node, edges = stack[-1]
            step = next(edges, None)
            if step is None:
                state[node] = 2
                stack.pop()
                continue
            if state.get(step) == 1:
                path = [entry[0] for entry in stack]
                cycle = [*path[path.index(step) :], step]
                for source, target in itertools.pairwise(cycle):
                    keyword = graph.ref_keyword.get((source, target))
                    if keyword is not None:
                        site = (*source, keyword)
                        if site not in reported:
                            reported.add(site)
                            found.append((site, _ENDLESS.format(keyword=keyword)))
                        break
                continue
            if step not in state:
                state[step] = 1
                stack.append((step, iter(graph.same_value.get(step, []))))
    return found


def _subschemas(root: Any, start: Loc) -> Iterator[tuple[Loc, Mapping[str, Any]]]:
    """Every subschema that is an object, with its loc, without recursion."""
    stack: list[tuple[Loc, Any]] = [(start, root)]
    while stack:
        loc, sub = stack.pop()
        if not isinstance(sub, Mapping):
            continue
        yield loc, sub
        for suffix, child, _ in _children(sub):
            stack.append(((*loc, *suffix), child))


def _children(schema: Mapping[str, Any]) -> Iterator[tuple[Loc, Any, bool]]:
    for keyword, same in _SCHEMA_MAPS.items():
        value = schema.get(keyword)
        if isinstance(value, Mapping):
            for name, child in value.items():
                if isinstance(child, Mapping | bool):
                    yield (keyword, name), child, same
    for keyword, same in _SCHEMA_LISTS.items():
        value = schema.get(keyword)
        if isinstance(value, list):
            for index, child in enumerate(value):
                yield (keyword, index), child, same
    for keyword, same in _SCHEMA_ONE.items():
        value = schema.get(keyword)
        if isinstance(value, Mapping | bool):
            yield (keyword,), value, same
        elif keyword in ("items", "additionalItems") and isinstance(value, list):
            for index, child in enumerate(value):
                yield (keyword, index), child, False
