"""Step templates: native values, text, the sandbox, and turning results into JSON."""

from __future__ import annotations

from typing import Any

import pytest
from markupsafe import Markup

from chimera.config.pipeline_templates import (
    Expression,
    TextTemplate,
    compile_string,
    compile_value,
    leaves,
    render_value,
    to_json_value,
)
from chimera.config.templates import TemplateProblem, TemplateRenderError

CONTEXT: dict[str, Any] = {
    "input": {"name": "Dana", "n": 3, "tags": ["a", "b"]},
    "steps": {"a": {"status": "committed", "output": {"items": [1, 2], "keys": "k"}}},
}


def render(text: str, context: dict[str, Any] | None = None) -> Any:
    return render_value(compile_string(text), context or CONTEXT)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{ input.tags }}", ["a", "b"]),
        ("  {{ input.n }}  ", 3),
        ("{{- input.n -}}", 3),
        ("{{ input }}", {"name": "Dana", "n": 3, "tags": ["a", "b"]}),
        ("{{ input.n > 2 }}", True),
        ("{{ none }}", None),
        ("{{ (1, 2) }}", [1, 2]),
        ("{{ input.tags | map('upper') }}", ["A", "B"]),
        ("{{ range(3) }}", [0, 1, 2]),
        ("{{ 1.5 }}", 1.5),
        ("{{ input.missing | default(0) }}", 0),
        ("{{ input.missing is defined }}", False),
    ],
)
def test_one_expression_gives_its_own_value(text: str, expected: Any) -> None:
    assert isinstance(compile_string(text), Expression)
    assert render(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello {{ input.name }}", "Hello Dana"),
        ("{{ input.n }}{{ input.n }}", "33"),
        ("{% if input.n %}yes{% endif %}", "yes"),
        ("{# a comment #}x", "x"),
        ("{{ input.n }}{% if false %}{% endif %}{{ input.n }}", "33"),
        ("{{ input.tags }} !", "['a', 'b'] !"),
    ],
)
def test_anything_else_renders_as_text(text: str, expected: str) -> None:
    assert isinstance(compile_string(text), TextTemplate)
    assert render(text) == expected


def test_plain_strings_stay_literal() -> None:
    assert compile_string("just text, {not a template}") == "just text, {not a template}"


def test_output_fields_win_over_dict_methods() -> None:
    # Plain Jinja would give the dict's items() method here.
    assert render("{{ steps.a.output.items }}") == [1, 2]
    assert render("{{ steps.a.output.keys }}") == "k"
    assert render("{{ input.get('name') }}") == "Dana"


def test_compile_value_keeps_the_shape_and_reports_each_bad_string() -> None:
    value, problems = compile_value(
        {"a": ["{{ input.n }}", 2, {"b": "{% if %}"}], "c": "{{ x.__class__ }}", "d": None}
    )
    assert [(path, p.message.split(":")[0]) for path, p in problems] == [
        (("a", 2, "b"), "template syntax error"),
        (("c",), "template may not access private attribute '__class__'"),
    ]
    assert [path for path, _ in leaves(value)] == [
        ("a", 0),
        ("a", 1),
        ("a", 2, "b"),
        ("c",),
        ("d",),
    ]


def test_render_errors_name_the_path_of_the_failing_string() -> None:
    value, _ = compile_value({"outer": [{"inner": "{{ input.missing }}"}]})
    with pytest.raises(TemplateRenderError, match=r"^input\.outer\[0\]\.inner: .*'missing'"):
        render_value(value, CONTEXT)
    text, _ = compile_value({"t": "x {{ input.missing.deeper }}"})
    with pytest.raises(TemplateRenderError, match=r"^input\.t: "):
        render_value(text, CONTEXT)


@pytest.mark.parametrize(
    "text",
    [
        "{{ input.missing }}",
        "{{ nothing }}",
        "{{ input.n / 0 }}",
        "{{ input.name | int(1, 2, 3) }}",
    ],
)
def test_expressions_that_fail_at_runtime(text: str) -> None:
    with pytest.raises(TemplateRenderError):
        render(text)


def test_the_sandbox_refuses_unsafe_calls() -> None:
    with pytest.raises(TemplateRenderError):
        render("{{ input.tags.append(1) }}")
    assert CONTEXT["input"]["tags"] == ["a", "b"]


def test_expressions_compile_alone() -> None:
    assert Expression.compile("input.n + 1").evaluate(CONTEXT) == 4
    with pytest.raises(TemplateProblem, match="expression syntax error"):
        Expression.compile("input.n +")
    with pytest.raises(TemplateProblem, match="expression syntax error"):
        Expression.compile("a }} {{ b")
    with pytest.raises(TemplateProblem, match="private attribute '_x'"):
        Expression.compile("input._x")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (float("nan"), "nan is not a JSON number"),
        ({1: "a"}, "object key 1 is not a string"),
        (object(), "a object is not a JSON value"),
        (len, "a builtin_function_or_method is not a JSON value"),
    ],
)
def test_values_json_cannot_hold_are_refused(value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        to_json_value(value)


def test_markup_becomes_a_plain_string() -> None:
    converted = to_json_value(Markup("<b>"))
    assert converted == "<b>"
    assert type(converted) is str
