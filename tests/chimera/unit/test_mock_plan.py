"""The mock's compiled plans make exactly the interpreter's outputs, and fail where it fails."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic_core import to_json

from chimera.models.config import MockConfig
from chimera.models.llm import LLMRequest, Message
from chimera.services.mock_backend import MockBackend
from chimera.services.mock_compile import compile_plan
from chimera.services.mock_output import CannotGenerate, generate_output
from chimera.services.mock_plan import fast_output, plan_for
from tests.chimera.unit import test_mock_output
from tests.chimera.unit.test_mock_output import FUZZ, rooted

REPO = Path(__file__).resolve().parents[3]
SEEDS = [f"{n:032x}" for n in range(0, 2**128, 2**128 // 40)] + ["", "x", "seed", "ünï"]


def outcome(make: Any, schema: Any, seed: str) -> tuple[str, Any]:
    """The output as JSON bytes (so 1 and 1.0 differ), or the failure's reason and loc."""
    try:
        return "value", to_json(make(schema, seed))
    except CannotGenerate as exc:
        return "error", (exc.reason, exc.loc)


def assert_same(schema: Any, seeds: list[str] = SEEDS) -> None:
    for seed in seeds:
        expected = outcome(generate_output, schema, seed)
        assert outcome(fast_output, schema, seed) == expected, (schema, seed)


def skill_schemas() -> list[Any]:
    found = []
    for path in sorted((REPO / "skills").glob("*.yaml")):
        found.append(yaml.safe_load(path.read_text())["output_schema"])
    return found


def schemas_of_the_mock_tests() -> list[Any]:
    """Every ``schema`` the parametrized tests of test_mock_output run on."""
    found = []
    for name in dir(test_mock_output):
        for mark in getattr(getattr(test_mock_output, name), "pytestmark", []):
            if mark.name != "parametrize":
                continue
            names = mark.args[0]
            names = [n.strip() for n in names.split(",")] if isinstance(names, str) else names
            for key, make in (("schema", _as_is), ("pattern", _pattern_schema)):
                if key in names:
                    index = names.index(key)
                    found += [make(row[index] if len(names) > 1 else row) for row in mark.args[1]]
    return found


def _as_is(schema: Any) -> Any:
    return schema


def _pattern_schema(pattern: str) -> dict[str, Any]:
    return {"type": "string", "pattern": pattern}


BENCH = {"type": "object", "required": ["summary"], "properties": {"summary": {"type": "string"}}}
NODE = {
    "type": "object",
    "required": ["v"],
    "properties": {
        "v": {"type": "integer", "minimum": 1, "maximum": 9},
        "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}, "maxItems": 2},
    },
}
TREE = {"$defs": {"node": NODE}, "$ref": "#/$defs/node"}
MORE: list[Any] = [
    BENCH,
    {"type": "object", "properties": {"a": {"type": "object", "properties": {"b": {
        "type": "object", "required": ["c"], "properties": {"c": {"type": "string"}}}}}}},
    {"type": "array", "items": {"enum": [1, 2, 3]}, "minItems": 3, "uniqueItems": True},
    {"type": "array", "items": {"type": "boolean"}, "minItems": 2, "uniqueItems": True},
    {"type": "array", "items": {"enum": ["x", "y"]}, "minItems": 2, "uniqueItems": True},
    {"type": "array", "prefixItems": [{"type": "integer"}, {"const": None}], "minItems": 4},
    {"type": "string", "pattern": "^[A-Z]{2}-\\d{3}$"},
    {"type": "string", "pattern": "^a+$", "minLength": 3, "maxLength": 4},
    {"type": "string", "minLength": 40},
    {"type": "string", "maxLength": 5},
    {"type": "string", "minLength": 2, "maxLength": 12},
    {"type": "string", "format": "email", "maxLength": 30},
    {"type": "string", "format": "uuid"},
    {"type": "number"},
    {"type": "number", "minimum": -2.5, "exclusiveMaximum": 7.25},
    {"type": "number", "minimum": 2**60},
    {"type": "integer", "exclusiveMinimum": -3, "maximum": 10**25},
    {"type": "integer", "minimum": 1, "maximum": 100, "multipleOf": 7},
    {"type": "number", "multipleOf": 0.3, "minimum": 0.1, "maximum": 2},
    {"type": "integer", "minimum": 0.5, "maximum": 0.7},
    TREE,
    {"anyOf": [False, {"type": "integer"}, {"type": "string"}], "minimum": 3},
    {"anyOf": [{"type": "string", "pattern": "(?=x)"}, {"type": "boolean"}]},
    {"anyOf": [{"type": "integer", "minimum": 5, "maximum": 1}, {"type": "null"}]},
    {"oneOf": [{"type": "string"}, {"type": "integer"}]},
    {"type": "object", "properties": {"x": {"oneOf": [{"type": "null"}, {"type": "boolean"}]}}},
    {"type": "object", "minProperties": 4, "properties": {"a": {}}, "additionalProperties": {
        "type": "integer", "maximum": -7}},
    {"type": "object", "required": ["a", "a", 3], "properties": {"a": True}},
    {"type": ["null", "string"], "maxLength": 30},
    {"type": "object", "properties": {"deep": {"enum": [[[[[[[["x"]]]]]]]]}}},
    {"enum": ["x" * 300_000]},
    {"type": "array", "minItems": 40, "items": {"type": "string", "minLength": 9000}},
    {"type": "object", "required": ["a"], "properties": {"a": {"$ref": "#/properties/a"}}},
    {"type": "array", "minItems": 200, "items": {"type": "array", "minItems": 60}},
    {"allOf": [{"$ref": "#/$defs/s"}, {"maxLength": 2}], "$defs": {"s": {"type": "string"}}},
]  # fmt: skip


@pytest.mark.parametrize("schema", skill_schemas() + schemas_of_the_mock_tests() + MORE)
def test_the_plan_gives_the_interpreters_output_or_error(schema: Any) -> None:
    assert_same(schema)
    assert_same(schema)  # again, from the cached plan


@FUZZ
@given(schema=rooted(), seed=st.text(min_size=1, max_size=12))
def test_the_plan_matches_the_interpreter_on_generated_schemas(
    schema: dict[str, Any], seed: str
) -> None:
    assert_same(schema, [seed, seed + "1", "0" * 32])


@pytest.mark.parametrize("schema", [*skill_schemas(), BENCH, TREE])
def test_the_common_schemas_are_compiled_and_need_no_size_check(schema: Any) -> None:
    plan = compile_plan(schema)
    assert plan is not None
    assert plan.small


def test_a_schema_changed_in_place_gets_a_new_plan() -> None:
    schema: dict[str, Any] = {"type": "object", "properties": {"a": {"type": "string"}}}
    first = plan_for(schema)
    assert plan_for(schema) is first
    schema["properties"]["a"] = {"type": "integer", "minimum": 3, "maximum": 3}
    assert plan_for(schema) is not first
    assert fast_output(schema, "s") == {"a": 3}


async def test_the_backend_answers_as_before() -> None:
    # Output, confidence and usage as the mock gave them before plans (pinned from 28a9f33).
    schema = {
        "type": "object",
        "required": ["label", "score"],
        "properties": {
            "label": {"enum": ["a", "b", "c"]},
            "score": {"type": "number", "minimum": 0, "maximum": 1},
            "n": {"type": "integer", "minimum": -5, "maximum": 500},
            "when": {"type": "string", "format": "date"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "ok": {"type": "boolean"},
        },
    }
    request = LLMRequest(
        skill="s",
        messages=[Message.user("p")],
        output_schema=schema,
        input={"text": "hello", "k": [1, {"b": 2, "a": 1}]},
    )
    answer = await MockBackend({"s": MockConfig()}).complete(request)
    assert to_json(answer.output) == (
        b'{"label":"a","score":1.0,"n":0,"when":"2024-04-28",'
        b'"tags":["mock tags[0] 5c006c8f"],"ok":true}'
    )
    assert (answer.confidence, answer.usage.completion_tokens) == (0.5516, 23)


async def test_the_backend_answers_what_validation_would_build() -> None:
    from chimera.models.llm import ConfidenceSource, LLMResponse
    from chimera.models.result import Usage
    from chimera.models.trusted import trusted

    request = LLMRequest(skill="s", messages=[Message.user("prompt")], output_schema=BENCH)
    answer = await MockBackend({"s": MockConfig(confidence=0.7)}).complete(request)
    expected = trusted(
        LLMResponse,
        output=answer.output,
        tool_calls=[],
        confidence=0.7,
        confidence_source=ConfidenceSource.REPORTED,
        usage=Usage(prompt_tokens=1, completion_tokens=answer.usage.completion_tokens),
        model="mock",
        raw=None,
    )
    assert answer == expected
    assert answer.__dict__ == expected.__dict__
    assert answer.model_fields_set == expected.model_fields_set
    assert answer.model_dump_json() == expected.model_dump_json()
    assert LLMResponse.model_validate_json(answer.model_dump_json()) == answer
