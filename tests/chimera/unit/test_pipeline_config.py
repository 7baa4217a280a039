"""Loading ``pipelines:``: every mistake reported at its file:line:col, with a clear message."""

from __future__ import annotations

from pathlib import Path

import pytest

from chimera.config.errors import ConfigError, Problem
from chimera.config.loader import load_swarm
from chimera.models.pipeline import StepState
from tests.chimera.pipeline_support import (
    GATHER_SKILL,
    WORK_SKILL,
    pipeline_yaml,
    write_project,
)

REPO = Path(__file__).resolve().parents[3]


def problems(path: Path) -> list[Problem]:
    with pytest.raises(ConfigError) as exc:
        load_swarm(path)
    return exc.value.problems


def only(found: list[Problem]) -> Problem:
    assert len(found) == 1, "\n".join(map(str, found))
    return found[0]


def where(path: Path, needle: str) -> tuple[int, int]:
    """1-based (line, col) of the first ``needle`` in the file."""
    text = path.read_text(encoding="utf-8")
    index = text.index(needle)
    return text.count("\n", 0, index) + 1, index - (text.rfind("\n", 0, index) + 1) + 1


def check(tmp_path: Path, steps: str, output: str = "a", **kwargs: str) -> tuple[Problem, Path]:
    """Write a pipeline that must have exactly one problem; return it and the file."""
    path = write_project(tmp_path, pipeline_yaml(steps, output), **kwargs)
    return only(problems(path)), path


def assert_at(problem: Problem, path: Path, needle: str) -> None:
    assert (problem.file, (problem.line, problem.col)) == (path, where(path, needle)), str(problem)


# --- what loads ------------------------------------------------------------------------


def test_the_demo_pipeline_loads_in_graph_order() -> None:
    swarm = load_swarm(REPO / "swarm.yaml")
    pipeline = swarm.pipelines["answer_ticket"]
    assert pipeline.order == ("classify", "refund", "answer", "reply")
    assert pipeline.output == "reply"
    assert pipeline.steps["answer"].fans_out
    assert pipeline.steps["reply"].ancestors == frozenset({"answer", "classify"})
    assert pipeline.skills == {"classify", "check_refund", "answer_question", "compose_reply"}
    assert swarm.tenant_may_run_pipeline("acme", "answer_ticket")
    assert not swarm.tenant_may_run_pipeline("globex", "answer_ticket")
    assert not swarm.tenant_may_run_pipeline("acme", "nope")
    assert not swarm.tenant_may_run_pipeline("nobody", "answer_ticket")


def test_references_through_transitive_needs_loops_and_fan_outs_load(tmp_path: Path) -> None:
    path = write_project(
        tmp_path,
        pipeline_yaml(
            """\
            a: {skill: work, input: {text: "{{ input.text }}", tags: "{{ input.words }}"}}
            b: {skill: work, needs: [a], input: {text: "{{ steps.a.output.detail.note }}"}}
            c:
              skill: work
              needs: [b]
              when: "steps.a.status == 'committed' and steps.b.output.n > 1"
              for_each: steps.a.output.parts
              input:
                text: "{% for w in input.words %}{{ w }} {% endfor %}{{ item | upper }}"
                count: "{{ index }}"
                tags: ["{{ item }}", "{{ steps.a.output.category }}", fixed]
            d:
              skill: gather
              needs: [c]
              input:
                parts: "{{ steps.c.output }}"
                note: "{{ steps.c.output[0].text }} of {{ steps.c.output | length }}"
            """,
            "d",
        ),
    )
    pipeline = load_swarm(path).pipelines["p"]
    assert pipeline.order == ("a", "b", "c", "d")
    assert pipeline.steps["d"].ancestors == frozenset({"a", "b", "c"})


def test_a_job_may_run_a_pipeline(tmp_path: Path) -> None:
    path = write_project(
        tmp_path,
        pipeline_yaml('a: {skill: work, input: {text: "{{ input.text }}"}}', "a"),
        jobs="""\
        jobs:
          - {tenant: acme, pipeline: p, input: {text: hi}, repeat: 2}
          - {tenant: acme, skill: work, input: {text: hi}}
        """,
    )
    jobs = load_swarm(path).config.jobs
    assert [(j.pipeline, j.skill, j.repeat) for j in jobs] == [("p", None, 2), (None, "work", 1)]


# --- the graph -------------------------------------------------------------------------


def test_a_cycle_is_named_step_by_step(tmp_path: Path) -> None:
    problem, path = check(
        tmp_path,
        """\
        a: {skill: work, input: {text: x}}
        b: {skill: work, needs: [a, d], input: {text: x}}
        c: {skill: work, needs: [b], input: {text: x}}
        d: {skill: work, needs: [c], input: {text: x}}
        """,
    )
    assert problem.message == "the steps of pipeline 'p' form a cycle: b -> d -> c -> b"
    assert_at(problem, path, "[a, d]")


def test_an_unknown_step_in_needs_is_reported_with_a_suggestion(tmp_path: Path) -> None:
    problem, path = check(
        tmp_path,
        """\
        first: {skill: work, input: {text: x}}
        second: {skill: work, needs: [frist], input: {text: x}}
        """,
        "second",
    )
    assert problem.message.startswith(
        "step 'second': needs unknown step 'frist'; did you mean 'first'?"
    )
    assert_at(problem, path, "frist")


def test_a_step_that_needs_itself_or_a_step_twice(tmp_path: Path) -> None:
    path = write_project(
        tmp_path,
        pipeline_yaml(
            """\
            a: {skill: work, input: {text: x}}
            b: {skill: work, needs: [b, a, a], input: {text: x}}
            """,
            "b",
        ),
    )
    found = problems(path)
    assert [p.message for p in found] == [
        "step 'b': a step cannot need itself",
        "step 'b': 'a' is listed twice in needs",
    ]
    line, col = where(path, "[b, a, a]")
    assert [(p.line, p.col) for p in found] == [(line, col + 1), (line, col + 7)]


def test_unknown_skill_and_unknown_output_step(tmp_path: Path) -> None:
    path = write_project(tmp_path, pipeline_yaml("a: {skill: wrok, input: {text: x}}", "z"))
    found = problems(path)
    assert [p.message.split(";")[0] for p in found] == [
        "step 'a': unknown skill 'wrok'",
        "output: unknown step 'z' (expected one of: a)",
    ]
    assert (found[0].line, found[0].col) == where(path, "wrok")
    assert (found[1].line, found[1].col) == where(path, "z\n")


def test_step_names_must_be_identifiers(tmp_path: Path) -> None:
    problem, path = check(tmp_path, "my-step: {skill: work, input: {text: x}}", "a")
    assert "invalid name 'my-step'" in problem.message
    assert_at(problem, path, "my-step")


def test_a_job_names_one_skill_or_one_pipeline(tmp_path: Path) -> None:
    path = write_project(
        tmp_path,
        pipeline_yaml("a: {skill: work, input: {text: x}}", "a"),
        jobs="jobs:\n  - {tenant: acme, skill: work, pipeline: p, input: {text: x}}\n",
    )
    problem = only(problems(path))
    assert problem.message.endswith(
        "a job names either a skill or a pipeline (exactly one of them)"
    )


# --- templates that do not compile -----------------------------------------------------


def test_template_syntax_errors_point_into_block_scalars(tmp_path: Path) -> None:
    problem, path = check(
        tmp_path,
        """\
        a:
          skill: work
          input:
            text: |
              Line one {{ input.text }}
              Line two {% if %}
        """,
    )
    assert problem.message.startswith("step 'a': input.text: template syntax error:")
    assert (problem.file, problem.line) == (path, where(path, "Line two")[0])


@pytest.mark.parametrize("key", ["when", "for_each"])
def test_expressions_that_do_not_compile(tmp_path: Path, key: str) -> None:
    problem, path = check(
        tmp_path, f'a: {{skill: work, {key}: "input.text ==", input: {{text: x}}}}'
    )
    assert problem.message.startswith(f"step 'a': {key}: expression syntax error:")
    assert_at(problem, path, '"input.text ==')


def test_private_attributes_are_refused(tmp_path: Path) -> None:
    problem, _ = check(tmp_path, 'a: {skill: work, input: {text: "{{ input.text.__class__ }}"}}')
    assert "may not access private attribute '__class__'" in problem.message


# --- what templates read ---------------------------------------------------------------


def test_reading_a_step_it_does_not_need(tmp_path: Path) -> None:
    problem, path = check(
        tmp_path,
        """\
        a: {skill: work, input: {text: x}}
        b: {skill: work, input: {text: "{{ steps.a.output.text }}"}}
        """,
        "b",
    )
    assert problem.message == (
        "step 'b': steps.a.output.text: step 'b' reads steps.a but does not need 'a' "
        "(add it to needs, directly or through a step it needs)"
    )
    assert_at(problem, path, '"{{ steps.a')


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ steps.zz.output }}", "steps.zz.output: unknown step 'zz' (expected one of: a, b)"),
        ("{{ steps.b.output }}", "steps.b.output: step 'b' cannot read its own output or status"),
        ("{{ steps.a.result }}", "steps.a.result: steps.a has 'output' and 'status', not 'result'"),
        (
            "{{ steps.a.status.x }}",
            "steps.a.status.x: steps.a.status is a string, not an object",
        ),
        (
            "{{ steps[input.text].output }}",
            "steps[...]: write the step's name after steps, as in steps.<name>.output",
        ),
    ],
)
def test_references_to_steps(tmp_path: Path, template: str, message: str) -> None:
    problem, _ = check(
        tmp_path,
        f"""\
        a: {{skill: work, input: {{text: x}}}}
        b: {{skill: work, needs: [a], input: {{text: "{template}"}}}}
        """,
        "b",
    )
    assert problem.message == f"step 'b': {message}"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        (
            "{{ steps.a.output.txet }}",
            "steps.a.output.txet: the output_schema of skill 'work' declares no field 'txet' in "
            "steps.a.output; did you mean 'text'? (it declares: category, detail, items, n, "
            "parts, text)",
        ),
        (
            "{{ steps.a.output.detail.nope }}",
            "steps.a.output.detail.nope: the output_schema of skill 'work' declares no field "
            "'nope' in steps.a.output.detail; did you mean 'note'? (it declares: note, score)",
        ),
        (
            "{{ steps.a.output.parts.first }}",
            "steps.a.output.parts.first: steps.a.output.parts is an array, not an object; "
            "index it, or fan out over it with for_each",
        ),
        (
            "{{ steps.a.output.text[0] }}",
            "steps.a.output.text[0]: steps.a.output.text is a string, not a list",
        ),
        (
            "{{ input.nope }}",
            "input.nope: the input_schema of pipeline 'p' declares no field 'nope' in input "
            "(it declares: count, flag, text, words)",
        ),
        ("{{ other }}", "unknown variable 'other' (templates here see: input, steps)"),
        ("{{ item }}", "'item' exists only in the input of a step with for_each"),
    ],
)
def test_fields_the_schemas_do_not_declare(tmp_path: Path, template: str, message: str) -> None:
    problem, path = check(
        tmp_path,
        f"""\
        a: {{skill: work, input: {{text: x}}}}
        b: {{skill: gather, needs: [a], input: {{parts: [], note: "{template}"}}}}
        """,
        "b",
    )
    assert problem.message == f"step 'b': {message}"
    assert_at(problem, path, f'"{template}')


def test_a_fan_out_step_s_output_is_a_list_of_its_skill_s_output(tmp_path: Path) -> None:
    problem, _ = check(
        tmp_path,
        """\
        a: {skill: work, for_each: input.words, input: {text: "{{ item }}"}}
        b: {skill: gather, needs: [a], input: {parts: [], note: "{{ steps.a.output.text }}"}}
        """,
        "b",
    )
    assert problem.message.startswith(
        "step 'b': steps.a.output.text: steps.a.output is an array, not an object"
    )


def test_local_refs_in_output_schemas_are_followed(tmp_path: Path) -> None:
    with_defs = {
        **GATHER_SKILL,
        "name": "defs",
        "output_schema": {
            "$defs": {"info": {"type": "object", "properties": {"when": {"type": "string"}}}},
            "type": "object",
            "properties": {"info": {"$ref": "#/$defs/info"}, "text": {"type": "string"}},
        },
    }
    problem, _ = check(
        tmp_path,
        """\
        a: {skill: defs, input: {parts: []}}
        b: {skill: work, needs: [a], input: {text: "{{ steps.a.output.info.when }}"}}
        c: {skill: work, needs: [a], input: {text: "{{ steps.a.output.info.what }}"}}
        """,
        "b",
        skills=(WORK_SKILL, GATHER_SKILL, with_defs),
    )
    assert "declares no field 'what' in steps.a.output.info" in problem.message


def test_what_cannot_be_known_statically_is_not_reported(tmp_path: Path) -> None:
    remote = {
        **GATHER_SKILL,
        "name": "remote",
        "prompt": "{{ thing }}",
        "input_schema": {
            "type": "object",
            # An open schema (no type): what goes in cannot be checked statically. (A remote
            # $ref was the example here; the loader now refuses those outright.)
            "properties": {"thing": {}},
        },
    }
    path = write_project(
        tmp_path,
        pipeline_yaml(
            """\
            a: {skill: work, input: {text: x}}
            b: {skill: gather, needs: [a], input: {parts: [], note: "{{ steps.a }}"}}
            c: {skill: remote, needs: [a], input: {thing: "{{ steps.a.output.n }}"}}
            d: {skill: gone, input: {text: x}}
            e: {skill: work, needs: [d], input: {text: "{{ steps.d.output.whatever }}"}}
            """,
            "b",
        ),
        skills=(WORK_SKILL, GATHER_SKILL, remote),
    )
    assert only(problems(path)).message.startswith("step 'd': unknown skill 'gone'")


# --- for_each --------------------------------------------------------------------------


def test_for_each_over_something_that_is_not_a_list(tmp_path: Path) -> None:
    problem, path = check(
        tmp_path, 'a: {skill: work, for_each: input.text, input: {text: "{{ item }}"}}'
    )
    assert problem.message == "step 'a': for_each must give a list, but input.text is a string"
    assert_at(problem, path, "input.text,")


def test_items_are_checked_against_the_list_s_item_schema(tmp_path: Path) -> None:
    problem, _ = check(
        tmp_path, 'a: {skill: work, for_each: input.words, input: {text: "{{ item.x }}"}}'
    )
    assert problem.message == "step 'a': item.x: item is a string, not an object"


def test_index_is_a_number(tmp_path: Path) -> None:
    problem, _ = check(
        tmp_path, 'a: {skill: work, for_each: "[1, 2]", input: {text: x, count: "{{ index.x }}"}}'
    )
    assert problem.message == "step 'a': index.x: index is an integer, not an object or a list"


# --- inputs against the skill's input_schema --------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            '{count: "{{ input.count }}"}',
            "input: missing 'text', which the input_schema of skill 'work' requires",
        ),
        (
            '{text: "{{ input.count }}"}',
            "input.text: skill 'work' wants a string here, but input.count is an integer",
        ),
        (
            '{text: x, count: "{{ input.text | upper }}"}',
            "input.count: skill 'work' wants an integer here, but input.text | upper is a string",
        ),
        (
            "{text: x, count: many}",
            "input.count: skill 'work' wants an integer here, but 'many' is a string",
        ),
        (
            '{text: x, count: "n={{ input.count }}"}',
            "input.count: skill 'work' wants an integer here, but a text template is a string",
        ),
        (
            "{text: x, tags: [ok, 3]}",
            "input.tags[1]: skill 'work' wants a string here, but 3 is an integer",
        ),
        (
            "{text: x, tags: {a: b}}",
            "input.tags: skill 'work' wants an array here, but the value written here is an object",
        ),
        (
            '{text: x, tags: "{{ input.flag }}"}',
            "input.tags: skill 'work' wants an array here, but input.flag is a boolean",
        ),
        (
            "{text: x, colour: red}",
            "input.colour: the input_schema of skill 'work' has no property 'colour' "
            "(it takes: count, tags, text)",
        ),
    ],
)
def test_inputs_that_cannot_fit_the_skill(tmp_path: Path, value: str, message: str) -> None:
    problem, _ = check(tmp_path, f"a: {{skill: work, input: {value}}}")
    assert problem.message == f"step 'a': {message}"


def test_enum_values_and_numbers_fit_where_they_can(tmp_path: Path) -> None:
    enum_skill = {
        **GATHER_SKILL,
        "name": "pick",
        "prompt": "Pick {{ category }}",
        "input_schema": {
            "type": "object",
            "properties": {
                "category": {"enum": ["a", "b"]},
                "score": {"type": "number"},
                "choice": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            },
        },
    }
    path = write_project(
        tmp_path,
        pipeline_yaml(
            """\
            a: {skill: work, input: {text: x}}
            b:
              skill: pick
              needs: [a]
              input:
                category: "{{ steps.a.output.category }}"
                score: "{{ steps.a.output.n }}"
                choice: "{{ none }}"
            c: {skill: pick, input: {category: c}}
            """,
            "b",
        ),
        skills=(WORK_SKILL, GATHER_SKILL, enum_skill),
    )
    problem = only(problems(path))
    assert (
        problem.message
        == "step 'c': input.category: skill 'pick' takes one of 'a', 'b' here, not 'c'"
    )


# --- jobs and tenants ------------------------------------------------------------------


def test_jobs_that_run_a_pipeline_are_checked(tmp_path: Path) -> None:
    path = write_project(
        tmp_path,
        pipeline_yaml(
            """\
            a: {skill: work, input: {text: x}}
            b: {skill: gather, needs: [a], input: {parts: []}}
            """,
            "b",
        ),
        tenants="""\
        tenants:
          acme: {skills: [work, gather]}
          small: {skills: [work]}
        """,
        jobs="""\
        jobs:
          - {tenant: small, pipeline: p, input: {text: hi}}
          - {tenant: acme, pipeline: q, input: {text: hi}}
          - {tenant: acme, pipeline: p, input: {text: 3}}
          - {tenant: nobody, pipeline: p, input: {text: hi}}
        """,
    )
    found = problems(path)
    assert [p.message.split(" (expected")[0] for p in found] == [
        "tenant 'small' may not run pipeline 'p': it does not list 'gather' (a tenant runs a "
        "pipeline when it lists the skill of every step)",
        "unknown pipeline 'q'",
        "input does not match pipeline 'p': 3 is not of type 'string'",
        "unknown tenant 'nobody'",
    ]
    assert [(p.line, p.col) for p in found[:3]] == [
        where(path, "p, input: {text: hi}}"),
        where(path, "q, input"),
        where(path, "3}}"),
    ]


def test_an_invalid_input_schema(tmp_path: Path) -> None:
    path = write_project(
        tmp_path,
        """\
        p:
          input_schema: {type: thing}
          steps:
            a: {skill: work, input: {text: x}}
          output: a
        """,
    )
    problem = only(problems(path))
    assert problem.message.startswith("input_schema is not a valid JSON Schema:")
    assert (problem.line, problem.col) == where(path, "thing")


def test_a_job_for_a_pipeline_with_a_broken_input_schema_adds_nothing(tmp_path: Path) -> None:
    path = write_project(
        tmp_path,
        """\
        p:
          input_schema: {type: thing}
          steps:
            a: {skill: work, input: {text: x}}
          output: a
        """,
        jobs="jobs:\n  - {tenant: acme, pipeline: p, input: {text: hi}}\n",
    )
    assert only(problems(path)).message.startswith("input_schema is not a valid JSON Schema:")


def test_every_problem_is_reported_in_one_pass(tmp_path: Path) -> None:
    path = write_project(
        tmp_path,
        pipeline_yaml(
            """\
            a: {skill: nope, input: {text: "{{ input.nope }}"}}
            b: {skill: work, needs: [zz], when: "x ==", input: {text: "{{ steps.a.output.y }}"}}
            """,
            "q",
        ),
    )
    assert len(problems(path)) == 5


def test_step_states_know_what_they_mean() -> None:
    assert {s for s in StepState if s.settled} == {
        StepState.COMMITTED,
        StepState.SKIPPED,
        StepState.DENIED,
        StepState.DEAD_LETTERED,
        StepState.FAILED,
        StepState.CANCELLED,
    }
    assert {s for s in StepState if s.fails_run} == {
        StepState.DENIED,
        StepState.DEAD_LETTERED,
        StepState.FAILED,
    }
    assert {s for s in StepState if s.lets_dependants_run} == {
        StepState.COMMITTED,
        StepState.SKIPPED,
    }


def test_chimera_run_runs_pipeline_jobs_to_their_outcome(tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from chimera.cli.app import cli

    path = write_project(
        tmp_path,
        pipeline_yaml("a: {skill: work, input: {text: x}}", "a"),
        jobs="jobs:\n  - {tenant: acme, pipeline: p, input: {text: hi}}\n",
    )
    result = CliRunner().invoke(cli, ["run", str(path), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    [run] = report["runs"]
    assert (run["pipeline"], run["tenant"]) == ("p", "acme")
    assert set(run["steps"]) == {"a"}
    # The step ran as an ordinary task of the run's session, reported with the others.
    [task] = report["tasks"]
    assert task["skill"] == "work"
    expected = {"committed": "succeeded", "denied": "failed", "review": "running"}
    assert run["state"] == expected[task["outcome"]]
