"""Loading swarm.yaml and skill files: every problem reported at its file:line:col."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from chimera.config.errors import ConfigError, Problem
from chimera.config.loader import KnownNames, load_skill, load_swarm
from chimera.config.swarm import Swarm
from chimera.config.templates import (
    RESERVED_VARIABLES,
    PromptTemplate,
    TemplateProblem,
    TemplateRenderError,
)
from chimera.config.yaml_source import KEY, load_yaml

REPO = Path(__file__).resolve().parents[3]
DEMO_SKILLS = {
    "answer_order",
    "summarise",
    "classify",
    "draft_reply",
    "answer_question",
    "compose_reply",
    "check_refund",
}

SKILL = """\
name: echo
description: Repeat the text.
prompt: |
  Repeat this text:
  {{ text }}
input_schema:
  type: object
  required: [text]
  properties:
    text: {type: string}
    times: {type: integer}
output_schema:
  type: object
  required: [echo]
  properties:
    echo: {type: string}
"""

SWARM = """\
version: 1
name: test-swarm
skills:
  - skills/*.yaml
judge:
  approve_at: 0.8
  review_at: 0.5
tenants:
  acme:
    skills: [echo]
jobs:
  - tenant: acme
    skill: echo
    input: {text: hi}
"""


@dataclass
class Project:
    """A swarm.yaml and its skills in a temporary folder."""

    root: Path

    @property
    def swarm(self) -> Path:
        return self.root / "swarm.yaml"

    def write(self, name: str, text: str) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def load(self, known: KnownNames | None = None) -> Swarm:
        return load_swarm(self.swarm, known)

    def problems(self, known: KnownNames | None = None) -> list[Problem]:
        with pytest.raises(ConfigError) as exc:
            self.load(known)
        assert exc.value.problems, "a ConfigError always names at least one problem"
        return exc.value.problems

    def problems_in(self, path: Path, known: KnownNames | None = None) -> list[Problem]:
        """Problems in ``path``; a skill that fails to load also leaves its tenants short."""
        problems = self.problems(known)
        others = [p for p in problems if p.file != path]
        assert all(p.message.startswith("unknown skill") for p in others), others
        return [p for p in problems if p.file == path]


@pytest.fixture
def project(tmp_path: Path) -> Project:
    proj = Project(tmp_path)
    proj.write("swarm.yaml", SWARM)
    proj.write("skills/echo.yaml", SKILL)
    return proj


def where(path: Path, needle: str, nth: int = 0) -> tuple[int, int]:
    """1-based (line, col) of the ``nth`` occurrence of ``needle`` in the file."""
    text = path.read_text(encoding="utf-8")
    index = -1
    for _ in range(nth + 1):
        index = text.index(needle, index + 1)
    line = text.count("\n", 0, index) + 1
    col = index - (text.rfind("\n", 0, index) + 1) + 1
    return line, col


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, "\n".join(map(str, problems))
    return problems[0]


def assert_at(problem: Problem, path: Path, needle: str, *, col: bool = True) -> None:
    line, column = where(path, needle)
    assert problem.file == path, str(problem)
    assert problem.line == line, str(problem)
    if col:
        assert problem.col == column, str(problem)


# --- the valid cases -------------------------------------------------------------------


def test_minimal_project_loads(project: Project) -> None:
    swarm = project.load()
    assert swarm.config.name == "test-swarm"
    assert swarm.tenants == ["acme"]
    assert set(swarm.skills) == {"echo"}
    assert swarm.skill("echo").path == project.root / "skills" / "echo.yaml"
    assert swarm.tenant_may_run("acme", "echo")
    assert not swarm.tenant_may_run("acme", "other")
    assert not swarm.tenant_may_run("nobody", "echo")
    assert swarm.config.jobs[0].input == {"text": "hi"}


def test_repo_swarm_loads() -> None:
    swarm = load_swarm(REPO / "swarm.yaml")
    assert swarm.config.name == "support-desk"
    assert swarm.tenants == ["acme", "globex"]
    assert set(swarm.skills) == DEMO_SKILLS
    assert len(swarm.config.jobs) == 15
    assert swarm.skill("draft_reply").config.sensitive
    globex = swarm.judge_for("globex", "summarise")
    assert (globex.thresholds.approve_at, globex.thresholds.review_at) == (0.7, 0.5)
    acme = swarm.judge_for("acme", "summarise")
    assert (acme.policy, acme.thresholds.approve_at, acme.on_deny) == ("threshold", 0.8, "deny")
    for job in swarm.config.jobs:
        if job.skill is not None:
            assert swarm.skill(job.skill).input_errors(job.input) == []
        else:
            assert job.pipeline is not None
            assert swarm.pipelines[job.pipeline].input_errors(job.input) == []


def test_repo_swarm_loads_with_the_installed_plugin_names() -> None:
    from chimera.cli.loading import known_names

    swarm = load_swarm(REPO / "swarm.yaml", known_names())
    assert set(swarm.skills) == DEMO_SKILLS
    assert list(swarm.pipelines) == ["answer_ticket"]


def test_load_skill_alone(project: Project) -> None:
    skill = load_skill(project.root / "skills" / "echo.yaml")
    assert skill.name == "echo"
    assert skill.config.backend == "mock"
    assert skill.template.variables == {"text"}
    assert skill.input_errors({"text": "x"}) == []
    assert skill.input_errors({"text": 3}) == ["$.text: 3 is not of type 'string'"]
    assert skill.output_errors({}) == ["$: 'echo' is a required property"]


# --- YAML itself -----------------------------------------------------------------------


def test_bad_yaml_syntax_in_swarm(project: Project) -> None:
    project.write("swarm.yaml", "version: 1\nname: broken: name\n")
    problem = only(project.problems())
    assert problem.file == project.swarm
    assert (problem.line, problem.col) == (2, 13)
    assert problem.message.startswith("invalid YAML: mapping values are not allowed")


def test_bad_yaml_syntax_in_skill(project: Project) -> None:
    skill = project.write("skills/echo.yaml", "name: echo\nprompt: x\ninput_schema:\n\t- tab\n")
    problem = only(project.problems_in(skill))
    assert (problem.file, problem.line, problem.col) == (skill, 4, 1)
    assert "invalid YAML" in problem.message


def test_duplicate_yaml_key(project: Project) -> None:
    project.write(
        "swarm.yaml",
        SWARM.replace("name: test-swarm\n", "name: test-swarm\nversion: 1\n"),
    )
    problem = only(project.problems())
    assert (problem.file, problem.line, problem.col) == (project.swarm, 3, 1)  # the second one
    assert problem.message == "duplicate key 'version'"


def test_duplicate_key_in_nested_mapping_of_a_skill(project: Project) -> None:
    skill = project.write(
        "skills/echo.yaml", SKILL.replace("  required: [text]\n", "  required: [text]\n  type: x\n")
    )
    problem = only(project.problems_in(skill))
    assert problem.file == skill
    assert (problem.line, problem.col) == (9, 3)
    assert problem.message == "duplicate key 'type'"


@pytest.mark.parametrize("text", ["", "# only a comment\n", "\n\n"])
def test_empty_swarm_file(project: Project, text: str) -> None:
    project.write("swarm.yaml", text)
    problem = only(project.problems())
    assert (problem.file, problem.line, problem.col) == (project.swarm, 1, 1)
    assert "empty" in problem.message


def test_empty_skill_file(project: Project) -> None:
    skill = project.write("skills/echo.yaml", "")
    problems = project.problems()
    assert Problem(skill, 1, 1, "the file is empty; expected a mapping") in problems


def test_swarm_that_is_not_a_mapping(project: Project) -> None:
    project.write("swarm.yaml", "- a\n- b\n")
    problem = only(project.problems())
    assert (problem.line, problem.col) == (1, 1)
    assert "valid dictionary" in problem.message


def test_missing_swarm_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as exc:
        load_swarm(missing)
    problem = only(exc.value.problems)
    assert (problem.file, problem.line, problem.col) == (missing, 1, 1)
    assert problem.message.startswith("cannot read file")


# --- shape: unknown keys, wrong types, ranges -------------------------------------------


def test_unknown_key_in_skill_suggests_the_right_one(project: Project) -> None:
    skill = project.write("skills/echo.yaml", SKILL.replace("description:", "descripton:"))
    problem = only(project.problems_in(skill))
    assert_at(problem, skill, "descripton:")
    assert "unknown key 'descripton'; did you mean 'description'?" in problem.message
    assert "expected one of:" in problem.message
    assert "prompt" in problem.message


def test_unknown_nested_key_in_swarm(project: Project) -> None:
    project.write("swarm.yaml", SWARM.replace("    skills: [echo]", "    skils: [echo]"))
    problems = project.problems()
    unknown = [p for p in problems if "unknown key" in p.message]
    assert len(unknown) == 1
    assert_at(unknown[0], project.swarm, "skils")
    assert "did you mean 'skills'?" in unknown[0].message
    assert "(expected one of: judge, mcp_servers, quotas, skills)" in unknown[0].message
    missing = [p for p in problems if "missing required key 'skills'" in p.message]
    assert len(missing) == 1
    assert_at(missing[0], project.swarm, "skils")


def test_unknown_key_without_a_close_match(project: Project) -> None:
    project.write("swarm.yaml", SWARM + "zzzzzz: 1\n")
    problem = only(project.problems())
    assert_at(problem, project.swarm, "zzzzzz")
    assert "did you mean" not in problem.message
    assert "unknown key 'zzzzzz'" in problem.message


def test_unknown_key_in_judge_skills_override(project: Project) -> None:
    project.write(
        "swarm.yaml",
        SWARM.replace(
            "  review_at: 0.5\n", "  review_at: 0.5\n  skills:\n    echo: {aprove_at: 1}\n"
        ),
    )
    problem = only(project.problems())
    assert_at(problem, project.swarm, "aprove_at")
    assert "did you mean 'approve_at'?" in problem.message


def test_wrong_type_in_skill(project: Project) -> None:
    skill = project.write("skills/echo.yaml", SKILL + "timeout_s: soon\n")
    problem = only(project.problems_in(skill))
    assert_at(problem, skill, "soon")
    assert problem.message.startswith("timeout_s: input should be a valid number")
    assert "(got 'soon')" in problem.message


def test_wrong_type_in_swarm(project: Project) -> None:
    project.write("swarm.yaml", SWARM.replace("skills: [echo]", "skills: echo"))
    problem = only(project.problems())
    assert_at(problem, project.swarm, "echo")
    assert problem.message.startswith("tenants.acme.skills: input should be a valid list")


def test_wrong_type_deep_in_a_job(project: Project) -> None:
    project.write("swarm.yaml", SWARM + "  - tenant: acme\n    skill: echo\n    repeat: lots\n")
    problems = project.problems()
    repeat = [p for p in problems if "repeat" in p.message]
    assert len(repeat) == 1
    assert_at(repeat[0], project.swarm, "lots")
    assert repeat[0].message.startswith("jobs.1.repeat: input should be a valid integer")
    missing = [p for p in problems if "missing required key 'input'" in p.message]
    assert len(missing) == 1
    assert (missing[0].line, missing[0].col) == where(project.swarm, "tenant: acme", nth=1)


def test_invalid_tenant_name(project: Project) -> None:
    project.write("swarm.yaml", SWARM.replace("  acme:\n", "  'ac:me':\n"))
    problems = project.problems()
    named = [p for p in problems if p.message.startswith("invalid name 'ac:me'")]
    assert len(named) == 1
    assert_at(named[0], project.swarm, "'ac:me'")


def test_every_shape_problem_is_reported_at_once(project: Project) -> None:
    project.write(
        "swarm.yaml",
        SWARM.replace("approve_at: 0.8", "approve_at: high").replace("version: 1", "version: 2"),
    )
    problems = project.problems()
    assert len(problems) == 2
    assert [p.line for p in problems] == sorted(p.line for p in problems)
    assert problems[0].line == where(project.swarm, "version")[0]
    assert problems[1].line == where(project.swarm, "high")[0]


@pytest.mark.parametrize(
    ("old", "new", "needle", "message"),
    [
        ("approve_at: 0.8", "approve_at: 1.5", "1.5", "less than or equal to 1"),
        ("review_at: 0.5", "review_at: -0.1", "-0.1", "greater than or equal to 0"),
    ],
)
def test_threshold_out_of_range(
    project: Project, old: str, new: str, needle: str, message: str
) -> None:
    project.write("swarm.yaml", SWARM.replace(old, new))
    problem = only(project.problems())
    assert_at(problem, project.swarm, needle)
    assert message in problem.message
    assert problem.message.startswith("judge.")


def test_tenant_threshold_out_of_range(project: Project) -> None:
    project.write(
        "swarm.yaml",
        SWARM.replace(
            "    skills: [echo]\n", "    skills: [echo]\n    judge:\n      approve_at: 7\n"
        ),
    )
    problem = only(project.problems())
    assert_at(problem, project.swarm, "7")
    assert problem.message.startswith("tenants.acme.judge.approve_at:")


# --- thresholds in order, after merging levels ------------------------------------------


def test_misordered_thresholds_at_swarm_level(project: Project) -> None:
    project.write("swarm.yaml", SWARM.replace("approve_at: 0.8", "approve_at: 0.4"))
    problem = only(project.problems())
    assert_at(problem, project.swarm, "0.5")
    assert problem.message == (
        "review_at (0.5) is above approve_at (0.4); expected review_at <= approve_at"
    )


def test_misordered_thresholds_by_a_tenant_review_override(project: Project) -> None:
    project.write(
        "swarm.yaml",
        SWARM.replace(
            "    skills: [echo]\n", "    skills: [echo]\n    judge:\n      review_at: 0.9\n"
        ),
    )
    problem = only(project.problems())
    assert_at(problem, project.swarm, "0.9")
    assert "review_at (0.9) is above approve_at (0.8) for tenant 'acme'" in problem.message


def test_misordered_thresholds_by_a_tenant_approve_override(project: Project) -> None:
    project.write(
        "swarm.yaml",
        SWARM.replace(
            "    skills: [echo]\n", "    skills: [echo]\n    judge:\n      approve_at: 0.3\n"
        ),
    )
    problem = only(project.problems())
    assert_at(problem, project.swarm, "0.3")
    assert "review_at (0.5) is above approve_at (0.3) for tenant 'acme'" in problem.message


def test_misordered_thresholds_by_a_skill_override(project: Project) -> None:
    project.write(
        "swarm.yaml",
        SWARM.replace(
            "  review_at: 0.5\n", "  review_at: 0.5\n  skills:\n    echo:\n      approve_at: 0.25\n"
        ),
    )
    problem = only(project.problems())
    assert_at(problem, project.swarm, "0.25")
    assert "for skill 'echo'" in problem.message


def test_misordered_thresholds_by_a_tenant_skill_override(project: Project) -> None:
    project.write(
        "swarm.yaml",
        SWARM.replace(
            "    skills: [echo]\n",
            "    skills: [echo]\n    judge:\n      skills:\n        echo: {review_at: 0.95}\n",
        ),
    )
    problem = only(project.problems())
    assert_at(problem, project.swarm, "0.95")
    assert "for tenant 'acme' and skill 'echo'" in problem.message


def test_a_tenant_may_fix_a_swarm_default_it_overrides(project: Project) -> None:
    # Lowering approve_at below the swarm's review_at is fine when review_at comes down too.
    project.write(
        "swarm.yaml",
        SWARM.replace(
            "    skills: [echo]\n",
            "    skills: [echo]\n    judge:\n      approve_at: 0.4\n      review_at: 0.2\n",
        ),
    )
    judge = project.load().judge_for("acme", "echo")
    assert (judge.thresholds.approve_at, judge.thresholds.review_at) == (0.4, 0.2)


# --- judge_for merge order --------------------------------------------------------------

MERGE_SWARM = """\
skills: [skills/*.yaml]
judge:
  policy: threshold
  approve_at: 0.8
  review_at: 0.5
  on_deny: deny
  options: {level: swarm}
  skills:
    echo:
      review_at: 0.3
      on_deny: retry
      options: {level: swarm-skill}
tenants:
  acme:
    skills: [echo, other]
    judge:
      approve_at: 0.7
      review_at: 0.45
      options: {level: tenant}
      skills:
        echo:
          approve_at: 0.95
  globex:
    skills: [echo, other]
"""


@pytest.fixture
def merge_swarm(project: Project) -> Swarm:
    project.write("skills/other.yaml", SKILL.replace("name: echo", "name: other"))
    project.write("swarm.yaml", MERGE_SWARM)
    return project.load()


def test_judge_for_swarm_defaults_only(merge_swarm: Swarm) -> None:
    judge = merge_swarm.judge_for("globex", "other")
    assert judge.policy == "threshold"
    assert (judge.thresholds.approve_at, judge.thresholds.review_at) == (0.8, 0.5)
    assert judge.on_deny == "deny"
    assert judge.options == {"level": "swarm"}


def test_judge_for_tenant_overrides_swarm(merge_swarm: Swarm) -> None:
    judge = merge_swarm.judge_for("acme", "other")
    assert (judge.thresholds.approve_at, judge.thresholds.review_at) == (0.7, 0.45)
    assert judge.on_deny == "deny"
    assert judge.options == {"level": "tenant"}


def test_judge_for_swarm_skill_overrides_swarm(merge_swarm: Swarm) -> None:
    judge = merge_swarm.judge_for("globex", "echo")
    assert (judge.thresholds.approve_at, judge.thresholds.review_at) == (0.8, 0.3)
    assert judge.on_deny == "retry"
    assert judge.options == {"level": "swarm-skill"}


def test_judge_for_full_order(merge_swarm: Swarm) -> None:
    """swarm < tenant < judge.skills[skill] < tenants[t].judge.skills[skill]."""
    judge = merge_swarm.judge_for("acme", "echo")
    assert judge.thresholds.approve_at == 0.95  # tenant's per-skill beats everything
    assert judge.thresholds.review_at == 0.3  # swarm's per-skill beats the tenant's 0.45
    assert judge.on_deny == "retry"  # swarm's per-skill
    assert judge.options == {"level": "swarm-skill"}  # replaced whole, not deep-merged
    assert judge.policy == "threshold"


def test_judge_for_is_cached(merge_swarm: Swarm) -> None:
    assert merge_swarm.judge_for("acme", "echo") is merge_swarm.judge_for("acme", "echo")


def test_judge_override_for_a_skill_that_does_not_exist(project: Project) -> None:
    project.write(
        "swarm.yaml",
        SWARM.replace(
            "  review_at: 0.5\n", "  review_at: 0.5\n  skills:\n    ecko: {approve_at: 0.9}\n"
        ),
    )
    problem = only(project.problems())
    assert_at(problem, project.swarm, "ecko")
    assert "unknown skill 'ecko'; did you mean 'echo'?" in problem.message


def test_tenant_judge_override_for_a_skill_it_does_not_list(project: Project) -> None:
    project.write("skills/other.yaml", SKILL.replace("name: echo", "name: other"))
    project.write(
        "swarm.yaml",
        SWARM.replace(
            "    skills: [echo]\n",
            "    skills: [echo]\n    judge:\n      skills:\n        other: {approve_at: 0.9}\n",
        ),
    )
    problem = only(project.problems())
    assert_at(problem, project.swarm, "other")
    assert problem.message == "tenant 'acme' does not list skill 'other'"


# --- skill files -----------------------------------------------------------------------


def test_skills_glob_that_matches_nothing(project: Project) -> None:
    project.write(
        "swarm.yaml", SWARM.replace("  - skills/*.yaml\n", "  - skills/*.yaml\n  - more/*.yml\n")
    )
    problem = only(project.problems())
    assert_at(problem, project.swarm, "more/*.yml")
    assert problem.message == "no skill file matches 'more/*.yml'"


def test_skills_paths_are_relative_to_the_swarm_file(project: Project, tmp_path: Path) -> None:
    project.write("swarm.yaml", SWARM.replace("skills/*.yaml", "skills/echo.yaml"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(elsewhere)
        assert set(load_swarm(project.swarm).skills) == {"echo"}


def test_a_file_matched_by_two_globs_is_loaded_once(project: Project) -> None:
    project.write(
        "swarm.yaml",
        SWARM.replace("  - skills/*.yaml\n", "  - skills/*.yaml\n  - skills/echo.yaml\n"),
    )
    assert set(project.load().skills) == {"echo"}


def test_duplicate_skill_name_across_files(project: Project) -> None:
    first = project.root / "skills" / "echo.yaml"
    second = project.write("skills/zz_copy.yaml", SKILL)
    problem = only(project.problems())
    assert_at(problem, second, "echo")
    assert f"duplicate skill name 'echo' (first defined in {first})" == problem.message


def test_tenant_lists_unknown_skill(project: Project) -> None:
    project.write("swarm.yaml", SWARM.replace("skills: [echo]", "skills: [echo, ecoh]"))
    problem = only(project.problems())
    assert_at(problem, project.swarm, "ecoh")
    assert problem.message == "unknown skill 'ecoh'; did you mean 'echo'? (expected one of: echo)"


def test_skill_missing_required_key(project: Project) -> None:
    skill = project.write("skills/echo.yaml", SKILL.split("output_schema:")[0])
    problems = project.problems()
    missing = [p for p in problems if p.file == skill]
    assert len(missing) == 1
    assert (missing[0].line, missing[0].col) == (1, 1)
    assert missing[0].message == "missing required key 'output_schema'"


def test_invalid_json_schema_in_input_schema(project: Project) -> None:
    skill = project.write(
        "skills/echo.yaml", SKILL.replace("text: {type: string}", "text: {type: strin}")
    )
    problem = only(project.problems_in(skill))
    assert_at(problem, skill, "strin")
    assert problem.message.startswith("input_schema is not a valid JSON Schema:")
    assert "'strin'" in problem.message


def test_invalid_json_schema_in_output_schema(project: Project) -> None:
    skill = project.write(
        "skills/echo.yaml", SKILL.replace("  required: [echo]", "  required: echo")
    )
    problem = only(project.problems_in(skill))
    assert_at(problem, skill, "required: echo", col=False)
    assert problem.message.startswith("output_schema is not a valid JSON Schema:")


# --- prompt templates at load -----------------------------------------------------------


def test_template_variable_not_in_input_schema_inside_block_scalar(project: Project) -> None:
    skill = project.write(
        "skills/echo.yaml",
        SKILL.replace("  {{ text }}\n", "  {{ text }}\n  In the style of {{ style }}.\n"),
    )
    problem = only(project.problems_in(skill))
    assert_at(problem, skill, "{{ style }}", col=False)
    assert problem.message == (
        "template variable 'style' is not a property of input_schema (known: text, times)"
    )


def test_template_variable_line_is_the_use_not_an_earlier_substring(project: Project) -> None:
    # 'tex' (a typo) is a substring of the word 'text' on the prompt's first line.
    skill = project.write("skills/echo.yaml", SKILL.replace("{{ text }}", "{{ tex }}"))
    problem = only(project.problems_in(skill))
    assert_at(problem, skill, "{{ tex }}", col=False)


def test_template_variable_in_a_quoted_single_line_prompt(project: Project) -> None:
    skill = project.write(
        "skills/echo.yaml",
        SKILL.replace(
            "prompt: |\n  Repeat this text:\n  {{ text }}\n", 'prompt: "Say {{ nope }}"\n'
        ),
    )
    problem = only(project.problems_in(skill))
    assert_at(problem, skill, '"Say')
    assert "'nope'" in problem.message


def test_template_accessing_dunder_class(project: Project) -> None:
    skill = project.write(
        "skills/echo.yaml",
        SKILL.replace("  {{ text }}\n", "  {{ text }}\n  {{ text.__class__ }}\n"),
    )
    problem = only(project.problems_in(skill))
    assert_at(problem, skill, "__class__", col=False)
    assert problem.message == "template may not access private attribute '__class__'"


def test_template_subscripting_a_private_name(project: Project) -> None:
    skill = project.write(
        "skills/echo.yaml", SKILL.replace("{{ text }}", "{{ input['__init__'] }}")
    )
    problem = only(project.problems_in(skill))
    assert_at(problem, skill, "__init__", col=False)
    assert "'__init__'" in problem.message


def test_template_syntax_error(project: Project) -> None:
    skill = project.write(
        "skills/echo.yaml", SKILL.replace("  {{ text }}\n", "  {{ text }}\n  and {{ text }\n")
    )
    problem = only(project.problems_in(skill))
    assert_at(problem, skill, "and {{ text }", col=False)
    assert problem.message.startswith("template syntax error:")


def test_template_may_use_reserved_variables(project: Project) -> None:
    prompt = "  {{ text }} {{ feedback }} {{ attempt }} {{ skill }} {{ tenant }} {{ input.text }}\n"
    project.write("skills/echo.yaml", SKILL.replace("  {{ text }}\n", prompt))
    variables = project.load().skill("echo").template.variables
    assert variables == RESERVED_VARIABLES | {"text"}


def test_template_with_schema_without_properties(project: Project) -> None:
    no_properties = (
        SKILL[: SKILL.index("  required: [text]")] + SKILL[SKILL.index("output_schema") :]
    )
    skill = project.write("skills/echo.yaml", no_properties)
    problem = only(project.problems_in(skill))
    assert_at(problem, skill, "{{ text }}", col=False)
    assert problem.message.endswith("(known: none)")


# --- jobs ------------------------------------------------------------------------------


def test_job_input_field_of_wrong_type(project: Project) -> None:
    project.write("swarm.yaml", SWARM.replace("input: {text: hi}", "input:\n      text: 42"))
    problem = only(project.problems())
    assert_at(problem, project.swarm, "42")
    assert problem.message == "input does not match skill 'echo': 42 is not of type 'string'"


def test_job_input_missing_required_field(project: Project) -> None:
    project.write("swarm.yaml", SWARM.replace("input: {text: hi}", "input: {times: 2}"))
    problem = only(project.problems())
    assert_at(problem, project.swarm, "{times: 2}")
    assert "'text' is a required property" in problem.message


def test_every_bad_job_input_field_is_reported(project: Project) -> None:
    project.write(
        "swarm.yaml",
        SWARM.replace("input: {text: hi}", "input:\n      text: 42\n      times: many"),
    )
    problems = project.problems()
    assert len(problems) == 2
    assert_at(problems[0], project.swarm, "42")
    assert_at(problems[1], project.swarm, "many")


def test_job_for_unknown_tenant(project: Project) -> None:
    project.write("swarm.yaml", SWARM.replace("  - tenant: acme", "  - tenant: acmee"))
    problem = only(project.problems())
    assert_at(problem, project.swarm, "acmee")
    assert "unknown tenant 'acmee'; did you mean 'acme'?" in problem.message


def test_job_for_skill_the_tenant_does_not_list(project: Project) -> None:
    project.write("skills/other.yaml", SKILL.replace("name: echo", "name: other"))
    project.write("swarm.yaml", SWARM.replace("    skill: echo", "    skill: other"))
    problem = only(project.problems())
    assert_at(problem, project.swarm, "skill: other", col=False)
    assert problem.message == "tenant 'acme' does not list skill 'other' (it lists: echo)"


# --- plugin names ----------------------------------------------------------------------

KNOWN = KnownNames(backends=["mock", "openai"], policies=["threshold"], sinks=["log", "redis"])


def test_known_names_accept_a_valid_swarm(project: Project) -> None:
    project.write("swarm.yaml", SWARM + "audit:\n  sinks: [log]\n")
    assert project.load(KNOWN).config.audit.sinks == ["log"]


def test_unknown_backend(project: Project) -> None:
    skill = project.write("skills/echo.yaml", SKILL + "backend: opnai\n")
    problem = only(project.problems_in(skill, KNOWN))
    assert_at(problem, skill, "opnai")
    assert problem.message == (
        "unknown backend 'opnai'; did you mean 'openai'? (expected one of: mock, openai)"
    )


def test_unknown_policy_at_swarm_level(project: Project) -> None:
    project.write("swarm.yaml", SWARM.replace("judge:\n", "judge:\n  policy: treshold\n"))
    problem = only(project.problems(KNOWN))
    assert_at(problem, project.swarm, "treshold")
    assert "unknown policy 'treshold'; did you mean 'threshold'?" in problem.message


def test_unknown_policy_at_tenant_level(project: Project) -> None:
    project.write(
        "swarm.yaml",
        SWARM.replace("    skills: [echo]\n", "    skills: [echo]\n    judge: {policy: vibes}\n"),
    )
    problem = only(project.problems(KNOWN))
    assert_at(problem, project.swarm, "vibes")
    assert problem.message.startswith("unknown policy 'vibes'")


def test_unknown_sink(project: Project) -> None:
    project.write("swarm.yaml", SWARM + "audit:\n  sinks: [log, reddis]\n")
    problem = only(project.problems(KNOWN))
    assert_at(problem, project.swarm, "reddis")
    assert "unknown audit sink 'reddis'; did you mean 'redis'?" in problem.message


def test_names_are_not_checked_without_known_names(project: Project) -> None:
    project.write("skills/echo.yaml", SKILL + "backend: custom\n")
    project.write(
        "swarm.yaml",
        SWARM.replace("judge:\n", "judge:\n  policy: custom\n") + "audit:\n  sinks: [custom]\n",
    )
    swarm = project.load()
    assert swarm.skill("echo").config.backend == "custom"
    assert swarm.judge_for("acme", "echo").policy == "custom"
    # And a KnownNames that leaves a kind as None does not check that kind either.
    assert project.load(KnownNames(backends=["custom"])).config.audit.sinks == ["custom"]


# --- environment variables ------------------------------------------------------------


def test_env_var_is_interpolated(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHIMERA_TEST_SWARM_NAME", "from-env")
    monkeypatch.setenv("CHIMERA_TEST_APPROVE", "0.75")
    project.write(
        "swarm.yaml",
        SWARM.replace("name: test-swarm", "name: ${CHIMERA_TEST_SWARM_NAME}").replace(
            "approve_at: 0.8", "approve_at: ${CHIMERA_TEST_APPROVE}"
        ),
    )
    swarm = project.load()
    assert swarm.config.name == "from-env"
    assert swarm.judge_for("acme", "echo").thresholds.approve_at == 0.75


def test_env_var_default(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHIMERA_TEST_UNSET", raising=False)
    project.write(
        "swarm.yaml",
        SWARM.replace("name: test-swarm", "name: pre-${CHIMERA_TEST_UNSET:-dflt}-post"),
    )
    assert project.load().config.name == "pre-dflt-post"


def test_env_var_default_is_ignored_when_set(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHIMERA_TEST_SET", "real")
    project.write("swarm.yaml", SWARM.replace("name: test-swarm", "name: ${CHIMERA_TEST_SET:-d}"))
    assert project.load().config.name == "real"


def test_env_var_unset_is_an_error_at_its_line(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CHIMERA_TEST_UNSET", raising=False)
    skill = project.write(
        "skills/echo.yaml", SKILL.replace("Repeat the text.", "Uses ${CHIMERA_TEST_UNSET}.")
    )
    problem = only(project.problems_in(skill))
    assert_at(problem, skill, "Uses")
    assert problem.message == "environment variable CHIMERA_TEST_UNSET is not set"


def test_env_var_escaped_stays_literal(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHIMERA_TEST_SET", "real")
    project.write(
        "swarm.yaml", SWARM.replace("name: test-swarm", "name: cost-$${CHIMERA_TEST_SET}")
    )
    assert project.load().config.name == "cost-${CHIMERA_TEST_SET}"


def test_load_yaml_env_mapping(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_text(
        "a: ${A}\nb: ${B:-fallback}\nc: $${A}\nd: ['x-${A}-${A}']\ne: ${EMPTY:-d}\nf: ${EMPTY}\n"
        "g: no dollars {here}\n"
    )
    value, _ = load_yaml(path, env={"A": "1", "EMPTY": ""})
    assert value == {
        "a": "1",
        "b": "fallback",
        "c": "${A}",
        "d": ["x-1-1"],
        "e": "d",  # as in the shell, ":-" covers a variable that is set but empty
        "f": "",
        "g": "no dollars {here}",
    }


def test_load_yaml_reports_every_unset_variable(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_text("a: ${X1}\nb:\n  - ${X2}\n")
    with pytest.raises(ConfigError) as exc:
        load_yaml(path, env={})
    assert [(p.line, p.col, p.message) for p in exc.value.problems] == [
        (1, 4, "environment variable X1 is not set"),
        (3, 5, "environment variable X2 is not set"),
    ]


def test_load_yaml_keeps_key_and_value_positions(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_text("top:\n  inner: [a, b]\n")
    _, source = load_yaml(path, env={})
    assert source.problem(("top", "inner", 1), "m") == Problem(path, 2, 14, "m")
    assert source.problem(("top", "inner", KEY), "m") == Problem(path, 2, 3, "m")
    # An unknown path falls back to its nearest known ancestor.
    assert source.problem(("top", "inner", 7, "x"), "m") == Problem(path, 2, 10, "m")


def test_load_yaml_rejects_complex_keys(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_text("ok: 1\n? [a, b]\n: 2\n")
    with pytest.raises(ConfigError) as exc:
        load_yaml(path, env={})
    problem = only(exc.value.problems)
    assert (problem.line, problem.message) == (2, "mapping keys must be plain scalars")


# --- prompt rendering ------------------------------------------------------------------


def compile_prompt(source: str, allowed: set[str]) -> PromptTemplate:
    return PromptTemplate.compile(source, frozenset(allowed))


def test_literal_json_braces_render_verbatim() -> None:
    source = 'Reply as JSON: {"a": {"b": 1}} about {{ topic }}.'
    rendered = compile_prompt(source, {"topic"}).render({"topic": "refunds"})
    assert rendered == 'Reply as JSON: {"a": {"b": 1}} about refunds.'


def test_prompt_is_not_html_escaped_and_keeps_trailing_newline() -> None:
    rendered = compile_prompt("Say {{ text }}\n", {"text"}).render({"text": "<b> & 'x'"})
    assert rendered == "Say <b> & 'x'\n"


def test_optional_property_with_default() -> None:
    template = compile_prompt("at most {{ n | default(2) }} lines", {"n"})
    assert template.render({}) == "at most 2 lines"
    assert template.render({"n": 5}) == "at most 5 lines"


def test_optional_property_with_is_defined() -> None:
    template = compile_prompt("{% if n is defined %}n={{ n }}{% else %}none{% endif %}", {"n"})
    assert template.render({}) == "none"
    assert template.render({"n": 1}) == "n=1"


def test_optional_property_used_bare_raises_render_error() -> None:
    template = compile_prompt("at most {{ n }} lines", {"n"})
    with pytest.raises(TemplateRenderError, match="'n' is undefined"):
        template.render({})


def test_render_exposes_input_and_extras() -> None:
    template = compile_prompt(
        "{{ input.text }}|{{ attempt }}|{{ feedback or 'none' }}|{{ tenant }}", {"text"}
    )
    assert template.render({"text": "t"}, tenant="acme") == "t|1|none|acme"
    assert template.render({"text": "t"}, tenant="acme", attempt=2, feedback="f") == "t|2|f|acme"


def test_sandbox_blocks_private_attributes_at_render() -> None:
    # Not caught at compile (attr() takes a string), but the sandbox stops it when rendering.
    template = compile_prompt("{{ text | attr('__class__') }}", {"text"})
    with pytest.raises(TemplateRenderError):
        template.render({"text": "x"})


def test_sandbox_blocks_mutation_at_render() -> None:
    template = compile_prompt("{{ items.append(1) }}", {"items"})
    with pytest.raises(TemplateRenderError):
        template.render({"items": []})


@pytest.mark.parametrize(
    ("source", "lineno", "message"),
    [
        ("a\nb\n{{ x }", 3, "template syntax error"),
        ("a\nb\n{{ x.__dict__ }}", 3, "private attribute '__dict__'"),
        ("a\n{{ x }}\n{{ y }}", 3, "template variable 'y'"),
        ("y y y\n{{ x }}\n{{ y }}", 3, "template variable 'y'"),
    ],
)
def test_template_problem_line_numbers(source: str, lineno: int, message: str) -> None:
    with pytest.raises(TemplateProblem) as exc:
        compile_prompt(source, {"x"})
    assert exc.value.lineno == lineno
    assert message in exc.value.message


def test_problem_string_format() -> None:
    problem = Problem(Path("a/swarm.yaml"), 3, 7, "bad thing")
    assert str(problem) == "a/swarm.yaml:3:7: bad thing"
    error = ConfigError([problem, Problem(Path("a/swarm.yaml"), 1, 1, "first"), problem])
    assert error.problems == [Problem(Path("a/swarm.yaml"), 1, 1, "first"), problem]
    assert str(error) == "a/swarm.yaml:1:1: first\na/swarm.yaml:3:7: bad thing"


def test_schema_fast_path_is_used_only_for_portable_schemas() -> None:
    from chimera.config.swarm import SchemaCheck

    portable = {
        "type": "object",
        "required": ["a"],
        "properties": {"a": {"type": "string", "minLength": 2}, "b": {"enum": [1, 2]}},
        "additionalProperties": False,
    }
    check = SchemaCheck.compile(portable)
    assert check is not None
    assert check.is_valid({"a": "xy", "b": 1})
    assert not check.is_valid({"a": "x"})
    assert not check.is_valid({"a": "xy", "c": 1})
    # 2020-12 only keywords (or anything unknown) go to jsonschema alone.
    assert SchemaCheck.compile({"type": "array", "prefixItems": [{"type": "string"}]}) is None
    assert SchemaCheck.compile({"$defs": {}, "type": "object"}) is None
    assert SchemaCheck.compile({"type": "array", "items": [{"type": "string"}]}) is None


def test_fast_path_failure_still_reports_jsonschema_messages(tmp_path: Path) -> None:
    from tests.chimera.helpers import ECHO_SKILL, write_swarm

    skill = write_swarm(tmp_path, skills=[ECHO_SKILL]).skill("echo")
    assert skill.input_check is not None
    assert skill.input_errors({"text": "ok"}) == []
    assert skill.input_errors({"text": 3}) == ["$.text: 3 is not of type 'string'"]
