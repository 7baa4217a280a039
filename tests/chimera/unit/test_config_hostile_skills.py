"""Hostile skills: globs, templates, JSON Schemas, secrets; fingerprints and source maps."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from chimera.config import skill_files
from chimera.config.errors import Problem
from chimera.config.loader import KnownNames
from chimera.config.swarm import Skill, compile_validator
from chimera.config.templates import PromptTemplate, TemplateProblem, TemplateRenderError
from tests.chimera.unit.test_config_loader import SKILL, SWARM, Project, assert_at, only, where


@pytest.fixture
def project(tmp_path: Path) -> Project:
    proj = Project(tmp_path)
    proj.write("swarm.yaml", SWARM)
    proj.write("skills/echo.yaml", SKILL)
    return proj


# --- skill globs ------------------------------------------------------------------------------


def test_double_star_does_not_follow_symlink_loops(project: Project) -> None:
    project.write("swarm.yaml", SWARM.replace("- skills/*.yaml", "- skills/**/*.yaml"))
    os.symlink(".", project.root / "skills" / "l1")
    os.symlink("..", project.root / "skills" / "l2")
    project.write("skills/nested/deeper/other.yaml", SKILL.replace("name: echo", "name: other"))
    swarm = project.load()
    assert sorted(swarm.skills) == ["echo", "other"]


def test_a_symlinked_folder_named_in_the_pattern_is_used(project: Project) -> None:
    os.symlink(project.root / "skills", project.root / "linked")
    project.write("swarm.yaml", SWARM.replace("- skills/*.yaml", "- linked/*.yaml"))
    assert set(project.load().skills) == {"echo"}


def test_a_pattern_from_the_filesystem_root_stops_at_the_entry_budget(project: Project) -> None:
    project.write("swarm.yaml", SWARM.replace("- skills/*.yaml", "- skills/*.yaml\n  - /**/*.yaml"))
    problem = only(project.problems())
    assert_at(problem, project.swarm, "/**/*.yaml")
    assert problem.message == (
        "'/**/*.yaml': matching looked at more than 10,000 directory entries; narrow it"
    )


def test_the_entry_budget_is_per_pattern(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(skill_files, "MAX_GLOB_ENTRIES", 5)
    for index in range(6):
        project.write(f"many/f{index}.txt", "x")
    project.write(
        "swarm.yaml", SWARM.replace("- skills/*.yaml", "- skills/*.yaml\n  - many/*.yaml")
    )
    problem = only(project.problems())
    assert_at(problem, project.swarm, "many/*.yaml")
    assert "more than 5 directory entries" in problem.message


def test_glob_keeps_hidden_files_hidden_and_sorts(project: Project) -> None:
    project.write("skills/.hidden.yaml", "not: a skill\n")
    project.write("skills/b/x.yaml", SKILL.replace("name: echo", "name: b_x"))
    project.write("skills/a/y.yaml", SKILL.replace("name: echo", "name: a_y"))
    found = skill_files.match_skill_files(project.root, "skills/**/*.yaml")
    assert [p.relative_to(project.root).as_posix() for p in found] == [
        "skills/a/y.yaml",
        "skills/b/x.yaml",
        "skills/echo.yaml",
    ]
    everything = skill_files.match_skill_files(project.root, "skills/**")
    assert project.root / "skills" / ".hidden.yaml" not in everything
    assert skill_files.match_skill_files(project.root, "skills/.*.yaml") == [
        project.root / "skills" / ".hidden.yaml"
    ]


def test_literal_and_parent_paths_still_work(project: Project, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "s.yaml").write_text(SKILL.replace("name: echo", "name: shared"))
    sub = project.write(
        "team/swarm.yaml",
        SWARM.replace("- skills/*.yaml", "- ../skills/echo.yaml\n  - ../shared/*.yaml"),
    )
    assert set(load(sub).skills) == {"echo", "shared"}


def load(path: Path) -> object:
    from chimera.config.loader import load_swarm

    return load_swarm(path)


def test_too_many_skill_files_is_a_problem(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chimera.config import loader

    monkeypatch.setattr(loader, "MAX_SKILL_FILES", 1)
    project.write("skills/other.yaml", SKILL.replace("name: echo", "name: other"))
    problems = project.problems()
    assert any(p.message == "more than 1 skill files; the rest are not loaded" for p in problems)
    monkeypatch.setattr(loader, "MAX_SKILL_FILES", 10)
    monkeypatch.setattr(loader, "MAX_SKILL_BYTES", 2**20 + len(SKILL) + 10)
    project.write("skills/other.yaml", SKILL.replace("name: echo", "name: other") + "#" * 2**20)
    problems = project.problems()
    assert any(
        p.message == "the skill files total more than 1 MiB; the rest are not loaded"
        for p in problems
    )


# --- prompt templates ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{{ text | upcase }}", "unknown filter 'upcase'; did you mean 'upper'?"),
        ("{% if text is odd2 %}odd{% endif %}", "unknown test 'odd2'; did you mean 'odd'?"),
        ("{% filter shout %}{{ text }}{% endfilter %}", "unknown filter 'shout'; did you mean"),
        ("{{ text is nothing_like_it }}", "unknown test 'nothing_like_it'"),
    ],
)
def test_unknown_filters_and_tests_are_load_errors_at_their_line(
    project: Project, line: str, message: str
) -> None:
    skill = project.write(
        "skills/echo.yaml", SKILL.replace("  {{ text }}\n", f"  {{{{ text }}}}\n  {line}\n")
    )
    problem = only(project.problems_in(skill))
    assert problem.line == where(skill, line)[0]
    assert problem.message.startswith(message)


def test_known_filters_and_tests_load_and_render(project: Project) -> None:
    project.write(
        "skills/echo.yaml",
        SKILL.replace(
            "  {{ text }}\n", "  {{ text | upper | trim }}{% if times is odd %}!{% endif %}\n"
        ),
    )
    skill = project.load().skill("echo")
    assert skill.template.render({"text": " hi ", "times": 3}).endswith("HI!\n")


@pytest.mark.parametrize(
    "source",
    ["{{ " + "(" * 3000 + "x" + ")" * 3000 + " }}", "{{ " + "+".join(["x"] * 20000) + " }}"],
)
def test_expressions_nested_too_deeply_are_a_problem_not_a_recursion_error(source: str) -> None:
    with pytest.raises(TemplateProblem, match=r"^template expressions are nested too deeply$"):
        PromptTemplate.compile(source, frozenset({"x"}))


# --- JSON Schemas -------------------------------------------------------------------------------


def schema_skill(project: Project, schema: str, where_: str = "input_schema") -> Path:
    text = SKILL
    if where_ == "input_schema":
        text = text.replace(
            "input_schema:\n  type: object\n", f"input_schema:\n  type: object\n{schema}"
        )
    else:
        text = text.replace(
            "output_schema:\n  type: object\n", f"output_schema:\n  type: object\n{schema}"
        )
    return project.write("skills/echo.yaml", text)


@pytest.mark.parametrize(
    ("schema", "needle", "message"),
    [
        (
            "  $ref: '#'\n",
            "$ref: '#'",
            "input_schema: $ref leads back to a schema it is part of without descending into "
            "the value: checking any value would never end",
        ),
        (
            "  $defs:\n    a: {allOf: [{$ref: '#/$defs/b'}]}\n"
            "    b: {anyOf: [{$ref: '#/$defs/a'}]}\n  allOf: [{$ref: '#/$defs/a'}]\n",
            "#/$defs/b",
            "input_schema: $ref leads back",
        ),
        (
            "  $defs: {x: {$ref: 'https://example.com/schema.json'}}\n",
            "https://",
            "input_schema: $ref 'https://example.com/schema.json' points outside this file; "
            "chimera never fetches schemas",
        ),
        ("  $defs: {x: {$ref: 'file:///etc/passwd'}}\n", "file:", "input_schema: $ref 'file:"),
        ("  $defs: {x: {$ref: 'other.yaml#/a'}}\n", "other.yaml", "input_schema: $ref 'other"),
        (
            "  $defs: {x: {$ref: '#/$defs/missing'}}\n",
            "#/$defs/missing",
            "input_schema: $ref '#/$defs/missing' points to nothing in this schema",
        ),
        (
            "  $defs: {x: {$ref: '#nowhere'}}\n",
            "#nowhere",
            "input_schema: $ref '#nowhere' names an anchor no schema in this file declares",
        ),
        (
            "  $defs: {x: {$ref: '#/required'}}\n",
            "#/required",
            "input_schema: $ref '#/required' does not point to a schema",
        ),
        (
            "  $schema: https://example.com/my-dialect\n",
            "https://example.com",
            "input_schema: unknown $schema 'https://example.com/my-dialect'",
        ),
        ("  $schema: [1]\n", "[1]", "input_schema: $schema must be a string"),
        (
            "  $defs:\n    code: {type: string, pattern: 'a{99999999999}'}\n",
            "a{9999",
            "input_schema: pattern 'a{99999999999}' is too large or too deeply nested to compile",
        ),
        (
            "  $defs:\n    code: {type: string, pattern: '" + "(" * 5000 + ")" * 5000 + "'}\n",
            "pattern",
            "input_schema: pattern '((((",
        ),
        (
            "  patternProperties:\n    '[unclosed': {}\n",
            "'[unclosed'",
            "input_schema: patternProperties key '[unclosed' is not a valid regular expression",
        ),
    ],
)
def test_schemas_that_would_fail_later_are_load_errors(
    project: Project, schema: str, needle: str, message: str
) -> None:
    skill = schema_skill(project, schema)
    problem = only(project.problems_in(skill))
    assert problem.line == where(skill, needle)[0], str(problem)
    assert problem.message.startswith(message), str(problem)


def test_recursion_through_properties_is_fine_and_deep_values_are_refused(
    project: Project,
) -> None:
    text = schema_skill(
        project,
        "  $defs:\n    node:\n      type: object\n      properties:\n"
        "        child: {$ref: '#/$defs/node'}\n        n: {type: integer}\n",
    ).read_text()
    project.write(
        "skills/echo.yaml",
        text.replace("    times: {type: integer}\n", "    tree: {$ref: '#/$defs/node'}\n"),
    )
    skill = project.load().skill("echo")
    tree: dict[str, object] = {"n": 1}
    for _ in range(40):
        tree = {"child": tree}
    assert skill.input_errors({"text": "t", "tree": tree}) == []
    bad: dict[str, object] = {"n": "x"}
    for _ in range(3):
        bad = {"child": bad}
    assert skill.input_errors({"text": "t", "tree": bad}) == [
        "$.tree.child.child.child.n: 'x' is not of type 'integer'"
    ]
    for _ in range(100):
        tree = {"child": tree}
    assert skill.input_errors({"text": "t", "tree": tree}) == ["$: nests deeper than 64 levels"]


def test_anchors_and_embedded_ids_resolve(project: Project) -> None:
    text = schema_skill(
        project,
        "  $defs:\n    name: {$anchor: nm, type: string}\n"
        "    inner:\n      $id: https://example.com/inner\n      $defs: {a: {type: integer}}\n"
        "      properties: {a: {$ref: '#/$defs/a'}}\n",
    ).read_text()
    extra = "    who: {$ref: '#nm'}\n    box: {$ref: '#/$defs/inner'}\n"
    skill = project.write("skills/echo.yaml", text.replace("    times: {type: integer}\n", extra))
    loaded = project.load().skill("echo")
    assert loaded.input_errors({"text": "t", "who": "w", "box": {"a": 1}}) == []
    assert loaded.input_errors({"text": "t", "who": 1, "box": {"a": "x"}}) == [
        "$.box.a: 'x' is not of type 'integer'",
        "$.who: 1 is not of type 'string'",
    ]
    # A ref by URI is refused even when the URI is an $id in the same file.
    by_uri = skill.read_text().replace("'#/$defs/inner'", "'https://example.com/inner'")
    project.write("skills/echo.yaml", by_uri)
    problem = only(project.problems_in(skill))
    assert "points outside this file" in problem.message


def test_validation_of_values_never_raises(tmp_path: Path) -> None:
    endless = compile_validator({"$ref": "#"})
    remote = compile_validator({"properties": {"a": {"$ref": "https://example.com/x.json"}}})
    regex = compile_validator({"type": "string", "format": "regex"})
    skill = Skill(
        config=_config(),
        path=tmp_path / "s.yaml",
        template=PromptTemplate.compile("x", frozenset()),
        input_validator=endless,
        output_validator=remote,
    )
    assert skill.input_errors({"a": 1})[0].startswith(
        "$: cannot be checked against the schema: RecursionError"
    )
    assert skill.output_errors({"a": 1})[0].startswith("$: cannot be checked against the schema")
    other = Skill(
        config=_config(),
        path=tmp_path / "s.yaml",
        template=PromptTemplate.compile("x", frozenset()),
        input_validator=regex,
        output_validator=regex,
    )
    assert other.output_errors("a{99999999999}")[0].startswith(
        "$: cannot be checked against the schema: OverflowError"
    )


def _config() -> object:
    from chimera.models.config import SkillConfig

    return SkillConfig(name="s", prompt="x", input_schema={}, output_schema={})


# --- secrets in messages ------------------------------------------------------------------------

SECRET = "sk-live-4f9a8b7c6d5e4f3a2b1c"


def test_an_interpolated_value_is_shown_as_its_reference(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHIMERA_TEST_SECRET", SECRET)
    monkeypatch.setenv("CHIMERA_TEST_SHORT", "abc")
    skill = project.write(
        "skills/echo.yaml",
        SKILL
        + "timeout_s: ${CHIMERA_TEST_SECRET}\n"
        + "default_confidence: ${CHIMERA_TEST_SHORT}\n"
        + "backend: &b 'pre-${CHIMERA_TEST_SECRET}'\n"
        + "retry: {max_attempts: *b}\n"
        + "mock: {output: ['${CHIMERA_TEST_SECRET}']}\n",
    )
    problems = project.problems_in(skill, KnownNames(backends=["mock"]))
    text = "\n".join(map(str, problems))
    assert SECRET not in text
    assert "'abc'" not in text
    assert (
        "timeout_s: input should be a valid number, unable to parse string as a number (got "
        "'${CHIMERA_TEST_SECRET}')"
    ) in text
    assert "(got '${CHIMERA_TEST_SHORT}')" in text
    assert "retry.max_attempts: input should be a valid integer" in text
    assert "(got ['${CHIMERA_TEST_SECRET}'])" in text


def test_unknown_names_do_not_show_interpolated_values(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHIMERA_TEST_SECRET", SECRET)
    skill = project.write("skills/echo.yaml", SKILL + "backend: 'pre-${CHIMERA_TEST_SECRET}'\n")
    problem = only(project.problems_in(skill, KnownNames(backends=["mock"])))
    assert problem.message == (
        "unknown backend 'pre-${CHIMERA_TEST_SECRET}' (expected one of: mock)"
    )


def test_job_input_errors_do_not_show_interpolated_values(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHIMERA_TEST_SECRET", SECRET)
    project.write(
        "swarm.yaml",
        SWARM.replace("input: {text: hi}", "input: {text: hi, times: '${CHIMERA_TEST_SECRET}'}"),
    )
    problem = only(project.problems())
    assert SECRET not in str(problem)
    assert problem.message == (
        "input does not match skill 'echo': '${CHIMERA_TEST_SECRET}' is not of type 'integer'"
    )


# --- fingerprints -------------------------------------------------------------------------------


def fingerprint_of(project: Project, text: str) -> str:
    project.write("skills/echo.yaml", text)
    return project.load().skill("echo").fingerprint


def test_same_meaning_same_fingerprint(project: Project) -> None:
    base = fingerprint_of(project, SKILL)
    assert len(base) == 16
    assert int(base, 16) >= 0
    head, schemas = SKILL.split("input_schema:")
    assert fingerprint_of(project, "# reordered\ninput_schema:" + schemas + head) == base
    assert fingerprint_of(project, SKILL + "timeout_s: 60\nbackend: mock\n") == base
    block = SKILL.replace("    echo: {type: string}", "    echo:\n      type: string")
    assert fingerprint_of(project, block) == base


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s.replace("Repeat this text:", "Repeat this text, please:"),
        lambda s: s.replace("times: {type: integer}", "times: {type: number}"),
        lambda s: s.replace("echo: {type: string}", "echo: {type: string, minLength: 1}"),
        lambda s: s + "backend: other\n",
        lambda s: s + "model: gpt-x\n",
        lambda s: s + "options: {temperature: 0.1}\n",
        lambda s: s + "retry: {max_attempts: 5}\n",
        lambda s: s + "mock: {confidence: 0.5}\n",
    ],
)
def test_any_change_changes_the_fingerprint(project: Project, change: object) -> None:
    base = fingerprint_of(project, SKILL)
    assert callable(change)
    assert fingerprint_of(project, change(SKILL)) != base


def test_fingerprint_counts_env_references_as_written(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (
        SKILL
        + "model: ${CHIMERA_TEST_MODEL}\noptions: {key: &k '${CHIMERA_TEST_KEY}', again: *k}\n"
    )
    monkeypatch.setenv("CHIMERA_TEST_MODEL", "a")
    monkeypatch.setenv("CHIMERA_TEST_KEY", "one")
    first = fingerprint_of(project, text)
    monkeypatch.setenv("CHIMERA_TEST_MODEL", "b")
    monkeypatch.setenv("CHIMERA_TEST_KEY", "two")
    assert fingerprint_of(project, text) == first
    assert fingerprint_of(project, text.replace("${CHIMERA_TEST_MODEL}", "b")) != first


def test_swarm_fingerprint_covers_its_config_and_every_skill(project: Project) -> None:
    base = project.load().fingerprint
    assert len(base) == 12
    assert project.load().fingerprint == base
    project.write("skills/echo.yaml", SKILL.replace("Repeat", "Echo"))
    assert project.load().fingerprint != base
    project.write("skills/echo.yaml", SKILL)
    project.write("swarm.yaml", SWARM.replace("review_at: 0.5", "review_at: 0.4"))
    assert project.load().fingerprint != base


# --- source maps kept -----------------------------------------------------------------------------


def test_skill_and_swarm_keep_their_source_maps(project: Project) -> None:
    skill_file = project.write("skills/echo.yaml", SKILL + "options:\n  temperature: 0.2\n")
    project.write(
        "swarm.yaml",
        SWARM.replace("  review_at: 0.5\n", "  review_at: 0.5\n  options: {deny: [x]}\n"),
    )
    swarm = project.load()
    skill_source = swarm.skill("echo").source
    assert skill_source is not None
    problem = skill_source.problem(("options", "temperature"), "m")
    assert problem == Problem(skill_file, *where(skill_file, "0.2"), "m")
    assert swarm.source is not None
    assert swarm.source.problem(("judge", "options", "deny", 0), "m") == Problem(
        project.swarm, *where(project.swarm, "x]"), "m"
    )


def test_a_secret_inside_a_large_value_is_not_shown_even_in_part(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHIMERA_TEST_SECRET", SECRET * 4)
    entries = ", ".join(f"k{index}: v" for index in range(9))
    skill = project.write(
        "skills/echo.yaml",
        SKILL + f"timeout_s: {{{entries}, a_key: '${{CHIMERA_TEST_SECRET}}'}}\n",
    )
    text = "\n".join(map(str, project.problems_in(skill)))
    assert "timeout_s: input should be a valid number (got {" in text
    assert SECRET[:12] not in text


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ text * times }}", "'*' would build more than 1,000,000 items"),
        ("{{ [text] * times }}", "'*' would build more than 1,000,000 items"),
        ("{{ times * text }}", "'*' would build more than 1,000,000 items"),
        ("{{ 7 ** times }}", "exponent 100000000 is above 10000"),
        ("{{ 1 / zero }}", "ZeroDivisionError: division by zero"),
        ("{{ 2.5 ** times }}", "OverflowError"),
        ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "RecursionError"),
    ],
)
def test_rendering_with_hostile_input_fails_the_task_not_the_worker(
    source: str, message: str
) -> None:
    template = PromptTemplate.compile(source, frozenset({"text", "times", "zero"}))
    with pytest.raises(TemplateRenderError, match=re.escape(message)):
        template.render({"text": "abc", "times": 10**8, "zero": 0})


def test_bounded_operators_still_work_below_the_bounds() -> None:
    template = PromptTemplate.compile("{{ text * 3 }} {{ 2 ** 10 }}", frozenset({"text"}))
    assert template.render({"text": "ab"}) == "ababab 1024"


@pytest.mark.parametrize(
    "line", ["{% include 'x.txt' %}", "{% extends 'base' %}", "{% import 'm' as m %}"]
)
def test_prompts_cannot_pull_in_other_templates(project: Project, line: str) -> None:
    skill = project.write("skills/echo.yaml", SKILL.replace("  {{ text }}\n", f"  {line}\n"))
    problem = only(project.problems_in(skill))
    assert problem.line == where(skill, line)[0]
    assert problem.message == "a prompt cannot include, extend or import other templates"


# --- pipeline step templates get the same protections ------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{ x | upcase }}", "unknown filter 'upcase'; did you mean 'upper'?"),
        ("note: {{ x | upcase }}", "unknown filter 'upcase'; did you mean 'upper'?"),
        ("{% if x is odd2 %}y{% endif %}", "unknown test 'odd2'; did you mean 'odd'?"),
        ("{{ " + "(" * 3000 + "x" + ")" * 3000 + " }}", "nested too deeply"),
        ("a {{ " + "+".join(["x"] * 20000) + " }}", "nested too deeply"),
        ("{% block a %}{% endblock %}{% block a %}{% endblock %}", "defined twice"),
    ],
)
def test_pipeline_templates_refuse_at_load_what_would_fail_later(text: str, message: str) -> None:
    from chimera.config.pipeline_templates import compile_string

    with pytest.raises(TemplateProblem, match=re.escape(message)):
        compile_string(text)


def test_pipeline_templates_bound_repetition_at_render() -> None:
    from chimera.config.pipeline_templates import Expression, TextTemplate, compile_string

    native = compile_string("{{ x * n }}")
    text = compile_string("say {{ x * n }}")
    assert isinstance(native, Expression)
    assert isinstance(text, TextTemplate)
    assert native.evaluate({"x": "ab", "n": 2}) == "abab"
    huge = {"x": "ab", "n": 10**8}
    with pytest.raises(TemplateRenderError, match="would build more than 1,000,000 items"):
        native.evaluate(huge)
    with pytest.raises(TemplateRenderError, match="would build more than 1,000,000 items"):
        text.render(huge)
