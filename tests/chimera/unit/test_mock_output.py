"""The mock backend's made-up outputs satisfy the output schema, or validate says why not."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chimera.config.swarm import compile_validator
from chimera.models.config import MockConfig
from chimera.models.llm import LLMRequest, Message
from chimera.ports.llm import BackendError
from chimera.services.mock_backend import MockBackend
from chimera.services.mock_checks import mock_problems, unsupported_keywords
from chimera.services.mock_output import FORMATS, CannotGenerate, generate_output
from chimera.services.mock_regex import RegexUnsupported, sample_regex
from tests.chimera.unit.test_config_loader import SKILL, SWARM, Project, only, where

FUZZ = settings(
    max_examples=250,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def errors(schema: dict[str, Any], value: Any) -> list[str]:
    return [e.message for e in compile_validator(schema).iter_errors(value)]


def valid_output(schema: dict[str, Any], seed: str = "seed") -> Any:
    value = generate_output(schema, seed)
    assert errors(schema, value) == [], (schema, value)
    return value


# --- the issue's example and each keyword ---------------------------------------------------


def test_a_pattern_like_the_issue_example_is_met() -> None:
    schema = {
        "type": "object",
        "required": ["code"],
        "properties": {"code": {"type": "string", "pattern": "^[A-Z]{3}$"}},
    }
    codes = {valid_output(schema, f"s{i}")["code"] for i in range(20)}
    assert all(re.fullmatch(r"[A-Z]{3}", code) for code in codes)
    assert len(codes) > 10  # the seed picks, so different inputs get different codes


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_format_gets_a_value_the_format_checker_accepts(name: str) -> None:
    value = valid_output({"type": "string", "format": name})
    assert isinstance(value, str)


@pytest.mark.parametrize(
    "pattern",
    [
        r"^\d{4}-\d{2}$",
        r"^[a-z][a-z0-9_]{2,8}$",
        r"^(?:foo|bar)+\.txt$",
        r"^(?P<x>ab)?c*d+$",
        r"^[^\s@]+@[^\s@]+\.[a-z]{2,}$",
        r"^\w+\s\W\S$",
        r"^[\]\-a]{2}\x41\u00e9$",
        r"\Aa{2,}?b{1,3}+\Z",
        r"^[+-]?\d+(\.\d+)?$",
        r"colou?r",
        r"^.{5}$",
        r"^ab{0}c$",
        r"^a{,2}b$",
        r"^x{$",
    ],
)
def test_patterns_in_the_supported_subset(pattern: str) -> None:
    for seed in ("a", "b", "c"):
        valid_output({"type": "string", "pattern": pattern}, seed)


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("(?=a)b", "look-around"),
        ("(a)\\1", "the escape '\\1'"),
        ("\\bword", "the escape '\\b'"),
        ("(?i)abc", "look-around, flag or reference"),
        ("a)", "unbalanced ')'"),
        ("[z-a]", "a bad range z-a"),
        ("*a", "nothing to repeat"),
        ("a**", "multiple repeat"),
        ("^a{2000000}$", "longer than 10000 characters"),
        ("a^b", "no string built from it matches"),
    ],
)
def test_patterns_outside_the_subset_say_why(pattern: str, reason: str) -> None:
    with pytest.raises(RegexUnsupported, match=re.escape(reason)):
        sample_regex(pattern, lambda n: 0)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "integer", "minimum": 5, "maximum": 5},
        {"type": "integer", "exclusiveMinimum": 4, "exclusiveMaximum": 6},
        {"type": "integer", "minimum": -10, "maximum": -3, "multipleOf": 4},
        {"type": "integer", "multipleOf": 0.5, "minimum": 3},
        {"type": "integer", "maximum": -1000},
        {"type": "number", "minimum": 0.1, "maximum": 0.2},
        {"type": "number", "exclusiveMinimum": 0.1, "exclusiveMaximum": 0.2},
        {"type": "number", "multipleOf": 0.1, "minimum": 0, "maximum": 1},
        {"type": "number", "multipleOf": 0.01, "minimum": 10**20},
        {"type": "integer", "minimum": 10**30, "maximum": 10**30 + 1},
        {"$schema": "http://json-schema.org/draft-04/schema#", "type": "number",
         "minimum": 2, "exclusiveMinimum": True, "maximum": 3, "exclusiveMaximum": True},
        {"type": "string", "minLength": 30, "maxLength": 31},
        {"type": "string", "maxLength": 2},
        {"enum": ["a", 2, None]},
        {"const": {"k": [1]}},
        {"type": ["null", "boolean"]},
        {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 9},
         "minItems": 5, "maxItems": 5, "uniqueItems": True},
        {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}],
         "items": False},
        {"$schema": "http://json-schema.org/draft-07/schema#", "type": "array",
         "items": [{"type": "string"}], "additionalItems": False, "minItems": 1},
        {"type": "object", "minProperties": 3, "additionalProperties": {"type": "integer"}},
        {"type": "object", "properties": {"a": {}, "b": {}, "c": {}}, "maxProperties": 1,
         "required": ["b"]},
        {"type": "object", "properties": {"a": {"type": "string"}},
         "dependentRequired": {"a": ["z"]}},
        {"allOf": [{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
                   {"properties": {"a": {"minimum": 7}, "b": {"const": 1}}, "required": ["b"]}]},
        {"anyOf": [{"type": "string", "pattern": "(?=x)"}, {"type": "integer"}]},
        {"oneOf": [{"type": "integer"}, {"type": "number", "multipleOf": 0.5}]},
        {"$defs": {"name": {"type": "string", "minLength": 2}},
         "type": "object", "required": ["n"], "properties": {"n": {"$ref": "#/$defs/name"}}},
        {"$defs": {"n": {"$anchor": "nm", "type": "integer"}}, "$ref": "#nm"},
        {"$defs": {"node": {"type": "object", "required": ["v"], "properties": {
            "v": {"type": "integer"},
            "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}},
         "$ref": "#/$defs/node"},
        {"properties": {"x": True, "y": {"type": "string", "format": "not-a-known-format"}}},
        {"type": ["null", "integer"], "minimum": 3},
        {"type": ["string", "number"], "exclusiveMaximum": -5},
        {"type": ["boolean", "integer"], "multipleOf": 3},
        {"allOf": [{"type": "integer", "minimum": 2, "maximum": 10}, {"minimum": 5, "maximum": 7}]},
        {"allOf": [{"enum": [1, 2, 3]}, {"enum": [2, 3, 4]}]},
        {"allOf": [{"type": ["integer", "string"]}, {"type": "number"}]},
        {"allOf": [{"type": "object", "properties": {"a": {"type": "integer"}}},
                   {"properties": {"a": {}}, "additionalProperties": False, "required": ["a"]}]},
        {"allOf": [True, {"type": "string", "minLength": 3}, {"maxLength": 3}]},
        {"definitions": {"x": {"$id": "#legacy", "type": "string"}}, "$ref": "#legacy",
         "$schema": "http://json-schema.org/draft-07/schema#"},
        {"$ref": "#/$defs/s", "maxLength": 4, "$defs": {"s": {"type": "string", "minLength": 4}}},
    ],
)  # fmt: skip
def test_keywords_are_honoured(schema: dict[str, Any]) -> None:
    for seed in ("one", "two", "three"):
        valid_output(schema, seed)
    assert mock_problems(schema, compile_validator(schema)) == []


def test_same_seed_same_output_other_seed_other_output() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}, "s": {"type": "string"}}}
    assert generate_output(schema, "x") == generate_output(schema, "x")
    assert generate_output(schema, "x") != generate_output(schema, "y")


DEEP_64: Any = "leaf"
for _ in range(64):
    DEEP_64 = [DEEP_64]


@pytest.mark.parametrize(
    ("schema", "loc", "reason"),
    [
        ({"type": "integer", "minimum": 3, "maximum": 2}, (), "no integer lies between"),
        ({"type": "number", "minimum": 0.3, "maximum": 0.3, "exclusiveMaximum": 0.3}, (),
         "no number"),
        ({"enum": []}, ("enum",), "'enum' is empty"),
        ({"type": "object", "required": ["x"], "additionalProperties": False}, (),
         "property 'x' is needed but additionalProperties is false"),
        ({"type": "array", "items": {"enum": [1, 2]}, "minItems": 3, "uniqueItems": True},
         ("uniqueItems",), "not enough distinct values"),
        ({"type": "object", "required": ["c"], "properties": {"c": {"$ref": "#"}}},
         ("properties", "c"), "nested more than 32 deep"),
        ({"type": "string", "format": "email", "maxLength": 3}, ("format",), "no email value"),
        ({"type": "string", "pattern": "^[A-Z]{3}$", "minLength": 5}, ("pattern",),
         "no string of length 5..10005"),
        ({"$ref": "#/$defs/none"}, (), "cannot be followed"),
        ({"allOf": [False]}, ("allOf",), "holds the schema 'false'"),
        ({"type": "array", "minItems": 5000}, ("minItems",), "too large"),
        ({"oneOf": [{"type": "integer"}, {"type": "integer"}]}, (), "also match another branch"),
        ({"enum": [{"a": DEEP_64}]}, (), "the output breaks the payload limits: payload nests"),
    ],
)  # fmt: skip
def test_what_cannot_be_generated_says_where(
    schema: dict[str, Any], loc: tuple[Any, ...], reason: str
) -> None:
    with pytest.raises(CannotGenerate) as exc:
        generate_output(schema, "seed")
    assert reason in exc.value.reason
    assert exc.value.loc[: len(loc)] == loc
    assert isinstance(exc.value, BackendError)
    assert mock_problems(schema, compile_validator(schema))[0][1].startswith(
        "the mock backend cannot generate output: "
    )


def test_the_trial_run_reports_schemas_the_merge_cannot_express() -> None:
    # additionalProperties in one allOf part does not see the other part's properties:
    # no value satisfies this schema, and validate says so at the keyword.
    schema = {
        "allOf": [
            {"type": "object", "properties": {"a": {"type": "integer"}}},
            {"additionalProperties": False, "required": ["a"]},
        ]
    }
    found = mock_problems(schema, compile_validator(schema))
    assert found == [
        (
            ("allOf", 1, "additionalProperties"),
            "the mock backend's output would not match: "
            "Additional properties are not allowed ('a' was unexpected)",
        )
    ]


def test_unsupported_keywords_are_listed_where_they_are() -> None:
    schema = {
        "type": "object",
        "patternProperties": {"^x": {}},
        "properties": {
            "a": {"type": "string", "not": {"const": "b"}},
            "b": {"type": "array", "items": {"contains": {}, "type": "array"}},
            "c": {"type": "string", "pattern": "(?<=a)b"},
        },
        "$defs": {"d": {"if": {}, "then": {}}},
    }
    found = unsupported_keywords(schema)
    assert [loc for loc, _ in found] == [
        ("$defs", "d", "if"),
        ("$defs", "d", "then"),
        ("patternProperties",),
        ("properties", "a", "not"),
        ("properties", "b", "items", "contains"),
        ("properties", "c", "pattern"),
    ]
    assert found[2][1] == "the mock backend cannot generate values for 'patternProperties'"
    assert found[5][1].startswith("the mock backend cannot generate strings for this pattern")


async def test_the_backend_answers_with_valid_output_or_a_backend_error() -> None:
    backend = MockBackend({"s": MockConfig()})
    schema: dict[str, Any] = {
        "type": "object",
        "required": ["code", "when"],
        "properties": {
            "code": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "when": {"type": "string", "format": "date"},
        },
    }
    request = LLMRequest(skill="s", messages=[Message.user("p")], output_schema=schema)
    answer = await backend.complete(request)
    assert errors(schema, answer.output) == []
    impossible = request.model_copy(update={"output_schema": {"type": "integer", "enum": []}})
    with pytest.raises(BackendError, match="the mock backend cannot generate output: 'enum'"):
        await backend.complete(impossible)


# --- chimera validate for mock skills ---------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Project:
    proj = Project(tmp_path)
    proj.write("swarm.yaml", SWARM)
    proj.write("skills/echo.yaml", SKILL)
    return proj


def test_validate_names_the_keyword_the_mock_cannot_satisfy(project: Project) -> None:
    skill = project.write(
        "skills/echo.yaml",
        SKILL + "  patternProperties:\n    '^x-': {type: string}\n",
    )
    problem = only(project.problems_in(skill))
    assert (problem.line, problem.col) == where(skill, "patternProperties")
    assert problem.message == (
        "the mock backend cannot generate values for 'patternProperties'; "
        "set mock.output or use another backend"
    )


def test_validate_reports_impossible_output_schemas_at_the_keyword(project: Project) -> None:
    skill = project.write(
        "skills/echo.yaml",
        SKILL.replace(
            "echo: {type: string}", "echo: {type: string, pattern: '^[A-Z]{3}$', minLength: 4}"
        ),
    )
    problem = only(project.problems_in(skill))
    assert (problem.line, problem.col) == where(skill, "pattern")
    assert "no string of length 4..10004 found for pattern '^[A-Z]{3}$'" in problem.message


def test_a_fixed_mock_output_or_another_backend_skips_the_check(project: Project) -> None:
    text = SKILL + "  patternProperties:\n    '^x-': {type: string}\n"
    project.write("skills/echo.yaml", text + "mock: {output: {echo: fixed}}\n")
    assert project.load().skill("echo").config.mock.output == {"echo": "fixed"}
    project.write("skills/echo.yaml", text + "backend: other\n")
    assert project.load().skill("echo").config.backend == "other"


def test_the_demo_skills_pass_the_mock_check() -> None:
    from chimera.config.loader import load_swarm

    repo = Path(__file__).resolve().parents[3]
    swarm = load_swarm(repo / "swarm.yaml")
    for skill in swarm.skills.values():
        assert mock_problems(skill.config.output_schema, skill.output_validator) == []


# --- property: generated schemas, generated outputs -------------------------------------------

PATTERNS = [r"^[A-Z]{3}$", r"^\d{2,4}$", r"^(ab|cd)+x?$", r"^[a-f0-9]{8}-[a-f0-9]{4}$", r"id_\w+"]
NAMES = st.sampled_from(["a", "b", "code", "when", "n", "items", "x-y", "ünï"])


@st.composite
def string_schemas(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["plain", "pattern", "format"]))
    if kind == "pattern":
        return {"type": "string", "pattern": draw(st.sampled_from(PATTERNS))}
    if kind == "format":
        return {"type": "string", "format": draw(st.sampled_from(sorted(FORMATS)))}
    low = draw(st.integers(0, 40))
    schema: dict[str, Any] = {"type": "string", "minLength": low}
    if draw(st.booleans()):
        schema["maxLength"] = low + draw(st.integers(0, 40))
    return schema


@st.composite
def number_schemas(draw: st.DrawFn) -> dict[str, Any]:
    integer = draw(st.booleans())
    low = draw(st.integers(-(10**6), 10**6) | st.floats(-1e6, 1e6, allow_nan=False))
    width = draw(st.integers(10, 10**4))
    schema: dict[str, Any] = {"type": "integer" if integer else "number"}
    if draw(st.booleans()):
        schema["exclusiveMinimum" if draw(st.booleans()) else "minimum"] = low
    if draw(st.booleans()):
        schema["exclusiveMaximum" if draw(st.booleans()) else "maximum"] = low + width
    if draw(st.booleans()):
        schema["multipleOf"] = draw(st.sampled_from([1, 2, 3, 7, 0.5, 0.25]))
    return schema


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), st.text(max_size=8))
LEAVES = st.one_of(
    string_schemas(),
    number_schemas(),
    st.lists(SCALARS, min_size=1, max_size=5, unique_by=repr).map(lambda v: {"enum": v}),
    SCALARS.map(lambda v: {"const": v}),
    st.sampled_from([{"type": "boolean"}, {"type": "null"}, {}, {"type": ["string", "null"]}]),
)


def containers(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    @st.composite
    def objects(draw: st.DrawFn) -> dict[str, Any]:
        properties = draw(st.dictionaries(NAMES, children, min_size=1, max_size=4))
        names = sorted(properties)
        required = draw(st.lists(st.sampled_from(names), unique=True)) if names else []
        schema: dict[str, Any] = {"type": "object", "properties": properties, "required": required}
        if draw(st.booleans()):
            schema["additionalProperties"] = False
        return schema

    @st.composite
    def arrays(draw: st.DrawFn) -> dict[str, Any]:
        low = draw(st.integers(0, 4))
        schema: dict[str, Any] = {"type": "array", "items": draw(children), "minItems": low}
        if draw(st.booleans()):
            schema["maxItems"] = low + draw(st.integers(0, 3))
        return schema

    @st.composite
    def branches(draw: st.DrawFn) -> dict[str, Any]:
        # One branch per JSON type, so a value of one branch never matches another.
        keyword = draw(st.sampled_from(["anyOf", "oneOf"]))
        first = draw(string_schemas())
        second = {"type": "object", "required": ["k"], "properties": {"k": draw(children)}}
        return {keyword: [first, second] if draw(st.booleans()) else [second, first]}

    @st.composite
    def merged_objects(draw: st.DrawFn) -> dict[str, Any]:
        first = {"type": "object", "properties": {"p": draw(children)}, "required": ["p"]}
        second = {"properties": {"q": draw(children)}}
        return {"allOf": [first, second]}

    return st.one_of(objects(), arrays(), branches(), merged_objects())


#: References go to the root's $defs, which every generated schema has (d0..d2).
REFS = st.sampled_from(["#/$defs/d0", "#/$defs/d1", "#/$defs/d2"]).map(lambda r: {"$ref": r})
SCHEMAS = st.recursive(LEAVES | REFS, containers, max_leaves=12)
DEFS = st.recursive(LEAVES, containers, max_leaves=4)


@st.composite
def rooted(draw: st.DrawFn) -> dict[str, Any]:
    schema = dict(draw(SCHEMAS))
    defs = {f"d{i}": draw(DEFS) for i in range(3)}
    if "$ref" in schema:  # a root that is itself a reference: keep it beside $defs
        schema = {"allOf": [schema]}
    return {**schema, "$defs": defs}


@FUZZ
@given(schema=rooted(), seed=st.text(min_size=1, max_size=12))
def test_generated_outputs_validate_against_generated_schemas(
    schema: dict[str, Any], seed: str
) -> None:
    compile_validator(schema).check_schema(schema)  # the strategy makes valid schemas
    assert unsupported_keywords(schema) == []
    output = generate_output(schema, seed)
    assert errors(schema, output) == [], (schema, output)
