"""``chimera validate`` reports an openai skill's missing model and bad options, with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest
from chimera_swarm_openai import check_skill

from chimera import ConfigError, SkillConfig
from chimera.testing import load_swarm_checked, run_cli

SKILL = """\
name: classify
backend: {backend}
{model}prompt: "Classify: {{{{ text }}}}"
input_schema: {{type: object, required: [text], properties: {{text: {{type: string}}}}}}
output_schema: {{type: object, required: [answer], properties: {{answer: {{type: string}}}}}}
options:
  max_tokens: 50
{options}"""

SWARM = """\
version: 1
skills: [skills/*.yaml]
tenants:
  acme: {skills: [classify]}
audit: {sinks: [log]}
"""


def write(tmp_path: Path, options: str = "", model: str = "", backend: str = "openai") -> Path:
    (tmp_path / "skills").mkdir(exist_ok=True)
    text = SKILL.format(backend=backend, model=model, options=options)
    (tmp_path / "skills" / "classify.yaml").write_text(text)
    (tmp_path / "swarm.yaml").write_text(SWARM)
    return tmp_path / "swarm.yaml"


def test_no_model_and_a_misspelt_option_are_both_reported_where_they_are(tmp_path: Path) -> None:
    path = write(tmp_path, options="  temprature: 0\n")
    skill_file = tmp_path / "skills" / "classify.yaml"

    with pytest.raises(ConfigError) as caught:
        load_swarm_checked(path)

    model, option = caught.value.problems
    assert (model.file, model.line, model.col) == (skill_file, 2, 10)
    assert model.message.startswith("backend 'openai' needs a model: add `model: <name>`")
    assert (option.file, option.line, option.col) == (skill_file, 8, 3)  # the key
    assert option.message.startswith(
        "unknown option 'temprature' for the openai backend; did you mean 'temperature'?"
    )


def test_chimera_validate_prints_one_line_each_and_exits_2(tmp_path: Path) -> None:
    path = write(tmp_path, options="  temperature: hot\n", model="model: gpt-4o-mini\n")
    result = run_cli("validate", str(path))
    assert result.exit_code == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    skill_file = tmp_path / "skills" / "classify.yaml"
    assert line == f"{skill_file}:9:16: option 'temperature' must be a number, got 'hot'"


def test_a_correct_openai_skill_validates(tmp_path: Path) -> None:
    options = "  temperature: 0\n  response_format: auto\n  tool_choice: required\n"
    swarm = load_swarm_checked(write(tmp_path, options=options, model="model: llama3.1\n"))
    assert swarm.skills["classify"].config.options["tool_choice"] == "required"
    result = run_cli("validate", str(tmp_path / "swarm.yaml"))
    assert result.exit_code == 0, result.stderr


def test_skills_on_other_backends_are_not_the_plugins_business(tmp_path: Path) -> None:
    swarm = load_swarm_checked(write(tmp_path, options="  temprature: 0\n", backend="mock"))
    assert swarm.skills["classify"].config.options == {"max_tokens": 50, "temprature": 0}


def test_the_hook_answers_only_for_its_own_backend() -> None:
    skill = SkillConfig.model_validate(
        {
            "name": "s",
            "backend": "mock",
            "prompt": "p",
            "input_schema": {"type": "object"},
            "output_schema": {"type": "object"},
            "options": {"temprature": 0},
        }
    )
    assert check_skill("mock", skill) == []
    issues = check_skill("openai", skill)
    assert [(i.path, i.key) for i in issues] == [
        (("backend",), False),
        (("options", "temprature"), True),
    ]
