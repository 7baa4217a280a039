"""What the checks know statically: schemas at a path, JSON types, references, the graph."""

from __future__ import annotations

from typing import Any

import pytest

from chimera.config.pipeline_graph import ancestors, find_cycle, topological_order
from chimera.config.pipeline_refs import Reference, references, value_schema
from chimera.config.pipeline_schemas import (
    compatible,
    describe,
    field_schema,
    json_types,
)
from chimera.config.pipeline_templates import Expression, TextTemplate, compile_string

OUTPUT: dict[str, Any] = {
    "$defs": {
        "point": {"type": "object", "properties": {"x": {"type": "number"}}},
        "list": [{"type": "object", "properties": {"y": {"type": "string"}}}],
    },
    "type": "object",
    "properties": {
        "pair": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}]},
        "where": {"$ref": "#/$defs/point"},
        "remote": {"$ref": "https://example.com/schema.json"},
        "loop": {"$ref": "#/properties/loop"},
        "broken": {"$ref": "#/$defs/nothing"},
        "either": {
            "anyOf": [
                {"type": "object", "properties": {"a": {"type": "string"}}},
                {"type": "object", "properties": {"b": {"type": "integer"}}},
            ]
        },
        "both": {
            "allOf": [
                {"type": "object", "properties": {"a": {"type": "string"}}},
                {"properties": {"a": {"minLength": 1}}},
            ]
        },
        "open": {"type": "object", "additionalProperties": {"type": "boolean"}},
        "by_pattern": {"type": "object", "patternProperties": {"^x_": {"type": "string"}}},
        "free": {},
        "far": {"anyOf": [{"$ref": "https://example.com/a.json"}]},
        "farther": {"anyOf": [{"anyOf": [{"$ref": "https://example.com/a.json"}]}]},
        "listed": {"$ref": "#/$defs/list/0"},
        "choice": {"oneOf": [{"$ref": "#/$defs/point"}, {"type": "null"}]},
    },
}


def lookup(*path: str | int | None) -> Any:
    return field_schema(OUTPUT, path, label="out", owner="the schema")


@pytest.mark.parametrize(
    ("path", "types"),
    [
        (("pair", 0), {"string"}),
        (("pair", 1), {"integer"}),
        (("where", "x"), {"number"}),
        (("either", "a"), {"string"}),
        (("either", "b"), {"integer"}),
        (("open", "anything"), {"boolean"}),
        (("by_pattern", "x_1"), {"string"}),
        (("choice", "x"), {"number"}),
        (("listed", "y"), {"string"}),
    ],
)
def test_fields_are_followed_through_the_schema(path: tuple[Any, ...], types: set[str]) -> None:
    found = lookup(*path)
    assert found.problem is None
    assert json_types(found.schema) == types


def test_both_branches_of_all_of_count() -> None:
    found = lookup("both", "a")
    assert found.problem is None
    assert json_types(found.schema) == {"string"}


@pytest.mark.parametrize(
    "path",
    [
        ("remote", "x"),
        ("loop", "x"),
        ("broken", "x"),
        ("pair", 5, "x"),
        ("where", None, "y"),
        ("far", "x"),
        ("farther", "x"),
    ],
)
def test_what_the_schema_leaves_open_is_unknown_not_wrong(path: tuple[Any, ...]) -> None:
    assert lookup(*path).schema is None
    assert lookup(*path).problem is None


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        (("free", "x"), "the schema declares no field 'x' in out.free"),
        (("by_pattern", "y"), "the schema declares no field 'y' in out.by_pattern"),
        (("where", 0), "out.where is an object, not a list"),
        (("either", "c"), "the schema declares no field 'c' in out.either"),
    ],
)
def test_fields_the_schema_does_not_declare(path: tuple[Any, ...], problem: str) -> None:
    assert lookup(*path).problem == problem


@pytest.mark.parametrize(
    ("schema", "types"),
    [
        ({"type": ["string", "null"]}, {"string", "null"}),
        ({"const": 3}, {"integer"}),
        (
            {"enum": [1.5, "a", None, True, [], {}]},
            {"number", "string", "null", "boolean", "array", "object"},
        ),
        ({"anyOf": [{"type": "string"}, {}]}, None),
        ({"allOf": [{}, {"type": "integer"}, {"type": ["integer", "null"]}]}, {"integer"}),
        ({"allOf": [{}]}, None),
        ({"properties": {}}, None),
        (True, None),
    ],
)
def test_json_types_of_a_schema(schema: Any, types: set[str] | None) -> None:
    assert json_types(schema) == (None if types is None else frozenset(types))


def test_integers_and_numbers_are_compatible() -> None:
    assert compatible(frozenset({"integer"}), frozenset({"number"}))
    assert compatible(frozenset({"number"}), frozenset({"integer"}))
    assert compatible(frozenset({"string", "null"}), frozenset({"null"}))
    assert not compatible(frozenset({"integer"}), frozenset({"string"}))
    assert describe(frozenset({"null", "string", "integer"})) == "a string or an integer or null"


def refs(text: str) -> list[str]:
    leaf = compile_string(text)
    assert isinstance(leaf, Expression | TextTemplate)
    return [r.text for r in references(leaf.node, frozenset({"input", "steps", "item"}))]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("{{ steps.a.output.b[0].c }}", ["steps.a.output.b[0].c"]),
        ("{{ steps['a'].output }}", ["steps.a.output"]),
        ("{{ input.x[input.i] }}", ["input.x[...]", "input.i"]),
        ("{{ input.d.items() }}", ["input.d"]),
        ("{{ input.a ~ other.b }}", ["input.a"]),
        ("{% for x in input.list %}{{ x.y }}{% endfor %}", ["input.list"]),
        ("{{ (input | list).x }}", ["input"]),
        ("{{ item[True] }}", ["item[...]"]),
    ],
)
def test_references_are_the_longest_chains_from_a_variable(text: str, found: list[str]) -> None:
    assert refs(text) == found


SCHEMAS: dict[str, Any] = {
    "input.n": {"type": "integer"},
    "input.list": {"type": "array", "items": {"type": "string"}},
    "input.s": {"type": "string"},
}


def infer(source: str) -> Any:
    def resolve(ref: Reference) -> Any:
        return SCHEMAS.get(ref.text)

    return json_types(value_schema(Expression.compile(source).node, resolve))


@pytest.mark.parametrize(
    ("source", "types"),
    [
        ("input.n", {"integer"}),
        ("input.list[input.n]", None),
        ("3", {"integer"}),
        ("'x'", {"string"}),
        ("[1]", {"array"}),
        ("{'a': 1}", {"object"}),
        ("input.n > 1", {"boolean"}),
        ("not input.n", {"boolean"}),
        ("input.n is even", {"boolean"}),
        ("input.n ~ 'x'", {"string"}),
        ("input.list | length", {"integer"}),
        ("input.list | join(',')", {"string"}),
        ("input.list | sort", {"array"}),
        ("input.list | first", {"string"}),
        ("input.s | first", None),
        ("input.n | default('x')", None),
        ("input.n if input.s else input.s", {"integer", "string"}),
        ("input.n if input.s else input.unknown", None),
        ("input.n if input.s", None),
        ("input.n + 1", None),
        ("(1, 2)", {"array"}),
    ],
)
def test_what_an_expression_gives(source: str, types: set[str] | None) -> None:
    assert infer(source) == (None if types is None else frozenset(types))


def test_a_graph_without_cycles_has_an_order_and_ancestors() -> None:
    needs = {"d": ["b", "c"], "b": ["a"], "c": ["a", "ghost"], "a": []}
    assert find_cycle(needs) is None
    assert topological_order(needs) == ["a", "b", "c", "d"]
    assert ancestors(needs)["d"] == {"a", "b", "c"}


def test_cycles_are_found_from_the_first_step_written() -> None:
    assert find_cycle({"a": ["a"]}) == ["a", "a"]
    assert find_cycle({"x": [], "a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    with pytest.raises(ValueError, match="form a cycle"):
        topological_order({"a": ["b"], "b": ["a"]})
