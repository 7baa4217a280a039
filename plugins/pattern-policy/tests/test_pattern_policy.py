"""The ``patterns`` policy: secrets denied, personal data reviewed, bands otherwise."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from chimera_swarm_pattern_policy import (
    DEFAULT_DENY_PATTERNS,
    OptionsError,
    PatternPolicy,
    compile_rules,
)

from chimera import ConfigError, Verdict, decide_by_thresholds
from chimera.testing import (
    PolicyConformance,
    build_policy,
    installed_registry,
    load_swarm_checked,
    make_policy_input,
    make_result,
    run_cli,
)

AWS_KEY = "AKIAIOSFODNN7EXAMPLE"  # AWS's documented example key
SECRETS = {
    "aws_access_key_id": f"use {AWS_KEY} for the upload",
    "private_key": "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA …",
    "api_key": "OPENAI_API_KEY=sk-proj-" + "a1B2" * 8,
    "bearer_token": "curl -H 'Authorization: Bearer " + "eyJhbGciOi" * 3 + "'",
    "github_token": "token ghp_" + "A" * 36,
}


def item(output: dict[str, Any], confidence: float = 0.95, **kwargs: Any) -> Any:
    return make_policy_input(
        make_result(output=output, confidence=confidence), policy="patterns", **kwargs
    )


async def decide(output: dict[str, Any], **kwargs: Any) -> Any:
    return await PatternPolicy().decide(item(output, **kwargs))


@pytest.mark.parametrize(("name", "text"), sorted(SECRETS.items()))
async def test_a_secret_is_denied_naming_the_pattern_not_the_secret(name: str, text: str) -> None:
    decision = await decide({"answer": text})
    assert decision.verdict is Verdict.DENY
    assert repr(name) in decision.reason
    assert "'answer'" in decision.reason
    assert decision.policy == "patterns"
    for secret_part in (AWS_KEY, "a1B2a1B2", "eyJhbGciOi", "MIIEowIBAAKCAQEA", "A" * 36):
        assert secret_part not in decision.reason


async def test_strings_are_found_at_any_depth_and_in_keys() -> None:
    nested = await decide({"answer": "ok", "items": [{"notes": ["fine", f"x {AWS_KEY}"]}]})
    assert nested.verdict is Verdict.DENY
    assert "'items[0].notes[1]'" in nested.reason
    in_key = await decide({"answer": "ok", "extra": {AWS_KEY: 1}})
    assert in_key.verdict is Verdict.DENY


async def test_numbers_and_booleans_are_not_scanned_as_text() -> None:
    decision = await decide({"answer": "ok", "count": 5551234567, "flag": True, "none": None})
    assert decision.verdict is Verdict.APPROVE


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("email", "write to dana.lee+billing@example.co.uk today"),
        ("phone_number", "call +1 555-123-4567"),
        ("phone_number", "call (020) 7946 0958"),
    ],
)
async def test_personal_data_goes_to_a_human(name: str, text: str) -> None:
    decision = await decide({"answer": text})
    assert decision.verdict is Verdict.REVIEW
    assert repr(name) in decision.reason
    assert text not in decision.reason


@pytest.mark.parametrize(
    "text",
    [
        "The bearer of this letter is welcome.",
        "Invoice 2024-03-15, order 1234567890, version 1.2.3, ip 10.0.0.1",
        "ask-me-anything and task-force are words",
        "AKIA is a prefix, AKIA123 too short",
    ],
)
async def test_ordinary_text_is_left_to_the_bands(text: str) -> None:
    assert (await decide({"answer": text})).verdict is Verdict.APPROVE


async def test_deny_wins_over_review() -> None:
    decision = await decide({"answer": "dana@example.com", "key": AWS_KEY})
    assert decision.verdict is Verdict.DENY
    assert "email" not in decision.reason


async def test_every_matching_deny_pattern_is_named() -> None:
    decision = await decide({"a": AWS_KEY, "b": SECRETS["github_token"], "c": AWS_KEY})
    assert decision.reason == (
        "output matches deny pattern 'aws_access_key_id' in field 'a', 'github_token' in field 'b'"
    )


async def test_clean_output_falls_back_to_the_threshold_bands() -> None:
    for confidence in (0.95, 0.6, 0.1):
        policy_input = item({"answer": "4"}, confidence=confidence)
        decision = await PatternPolicy().decide(policy_input)
        expected = decide_by_thresholds(policy_input, "patterns")
        assert decision.model_dump(exclude={"decided_at"}) == expected.model_dump(
            exclude={"decided_at"}
        )


async def test_a_sensitive_skill_is_still_denied_on_a_secret() -> None:
    decision = await decide({"answer": AWS_KEY}, sensitive=True)
    assert decision.verdict is Verdict.DENY


async def test_deny_retries_with_feedback_when_on_deny_says_retry() -> None:
    retried = await decide({"answer": AWS_KEY}, on_deny="retry")
    assert retried.retry
    assert not (await decide({"answer": AWS_KEY})).retry


async def test_configured_patterns_add_to_the_built_in_ones() -> None:
    options = {"deny_patterns": {"internal_host": r"\bdb-[a-z]+\.corp\.example\b"}}
    host = await decide({"answer": "connect to db-users.corp.example"}, options=options)
    assert host.verdict is Verdict.DENY
    assert "'internal_host'" in host.reason
    assert (await decide({"answer": AWS_KEY}, options=options)).verdict is Verdict.DENY


async def test_a_list_of_regexes_is_named_by_the_regex() -> None:
    options = {"review_patterns": [r"\bproject (?:falcon|osprey)\b"]}
    decision = await decide({"answer": "status of project falcon"}, options=options)
    assert decision.verdict is Verdict.REVIEW
    assert r"'\\bproject (?:falcon|osprey)\\b'" in decision.reason


async def test_a_built_in_pattern_can_be_switched_off() -> None:
    options: dict[str, Any] = {"review_patterns": {"email": None}}
    assert (await decide({"answer": "a@b.io"}, options=options)).verdict is Verdict.APPROVE
    assert (await decide({"answer": "a@b.io"})).verdict is Verdict.REVIEW


async def test_built_in_patterns_can_all_be_switched_off() -> None:
    options = {"builtin_patterns": False, "deny_patterns": {"word": "forbidden"}}
    assert (await decide({"answer": AWS_KEY}, options=options)).verdict is Verdict.APPROVE
    assert (await decide({"answer": "forbidden"}, options=options)).verdict is Verdict.DENY


async def test_an_overlong_field_goes_to_a_human() -> None:
    options = {"max_lengths": {"summary": 10, "items.text": 3}}
    long_summary = await decide({"summary": "x" * 11}, options=options)
    assert long_summary.verdict is Verdict.REVIEW
    assert long_summary.reason.startswith("field 'summary' is 11 characters, over max_lengths 10")
    assert (await decide({"summary": "x" * 10}, options=options)).verdict is Verdict.APPROVE
    in_list = await decide({"items": [{"text": "abc"}, {"text": "abcd"}]}, options=options)
    assert in_list.verdict is Verdict.REVIEW
    assert "'items[1].text'" in in_list.reason


async def test_a_wildcard_length_applies_to_every_other_field() -> None:
    options = {"max_lengths": {"*": 5, "body": 100}}
    assert (await decide({"body": "x" * 50}, options=options)).verdict is Verdict.APPROVE
    assert (await decide({"title": "x" * 6}, options=options)).verdict is Verdict.REVIEW


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"deny_patterns": {"bad": "(unclosed"}}, "judge.options.deny_patterns.bad: invalid regex"),
        ({"review_patterns": "x"}, "judge.options.review_patterns: expected a mapping"),
        ({"deny_patterns": {"n": 3}}, "judge.options.deny_patterns.n: expected a regex"),
        ({"max_lengths": {"a": -1}}, "judge.options.max_lengths.a: expected a whole number"),
        ({"max_lengths": {"a": True}}, "judge.options.max_lengths.a: expected a whole number"),
        ({"max_lengths": [1]}, "judge.options.max_lengths: expected a mapping"),
        ({"builtin_patterns": "no"}, "judge.options.builtin_patterns: expected true or false"),
    ],
)
def test_malformed_options_are_reported(options: dict[str, Any], problem: str) -> None:
    with pytest.raises(OptionsError) as caught:
        compile_rules(options)
    assert problem in str(caught.value)


async def test_patterns_are_compiled_once_per_options(monkeypatch: pytest.MonkeyPatch) -> None:
    import chimera_swarm_pattern_policy as module

    calls: list[Any] = []
    real = module.compile_rules

    def counting(options: Any) -> Any:
        calls.append(options)
        return real(options)

    monkeypatch.setattr(module, "compile_rules", counting)
    policy = PatternPolicy()
    options = {"deny_patterns": {"w": "forbidden"}, "unrelated": 1}
    for _ in range(3):
        await policy.decide(item({"answer": "ok"}, options=dict(options)))
    await policy.decide(item({"answer": "ok"}, options={"unrelated": 2}))
    await policy.decide(item({"answer": "ok"}))
    # The same patterns in an equal dict, and options this policy does not read, share rules.
    assert len(calls) == 2


def test_the_default_patterns_all_compile() -> None:
    rules = compile_rules({})
    assert [name for name, _ in rules.deny] == list(DEFAULT_DENY_PATTERNS)


class TestPatternConformance(PolicyConformance):
    @pytest.fixture
    def policy(self) -> PatternPolicy:
        return PatternPolicy()

    @pytest.fixture
    def policy_options(self) -> dict[str, Any]:
        return {"deny_patterns": {"word": "forbidden"}, "max_lengths": {"*": 1000}}


def test_the_plugin_registers_the_patterns_policy() -> None:
    assert isinstance(build_policy("patterns"), PatternPolicy)
    registry = installed_registry()
    (info,) = [p for p in registry.plugins if "patterns" in p.registers.get("policies", [])]
    assert info.name == "pattern_policy"
    assert not info.builtin


# --- swarm.yaml end to end ---------------------------------------------------------------

SKILL = """\
name: answer
backend: mock
prompt: "Answer: {{ question }}"
input_schema: {type: object, required: [question], properties: {question: {type: string}}}
output_schema: {type: object, required: [answer], properties: {answer: {type: string}}}
mock: {output: {answer: %(answer)s}, confidence: 0.95}
"""

SWARM = """\
version: 1
skills: [skills/*.yaml]
judge:
  policy: %(policy)s
  options:
    deny_patterns: {internal_host: 'db-[a-z]+[.]corp[.]example'}
tenants:
  acme: {skills: [answer]}
audit: {sinks: [log]}
jobs:
  - {tenant: acme, skill: answer, input: {question: "Where are the keys?"}}
"""


def write_swarm(tmp_path: Path, policy: str = "patterns", answer: str = '"four"') -> Path:
    (tmp_path / "skills").mkdir(exist_ok=True)
    (tmp_path / "skills" / "answer.yaml").write_text(SKILL % {"answer": answer})
    path = tmp_path / "swarm.yaml"
    path.write_text(SWARM % {"policy": policy})
    return path


def test_a_swarm_using_the_policy_validates(tmp_path: Path) -> None:
    swarm = load_swarm_checked(write_swarm(tmp_path))
    settings = swarm.judge_for("acme", "answer")
    assert settings.policy == "patterns"
    assert "internal_host" in str(settings.options)


def test_an_unknown_policy_fails_validation_listing_patterns(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_swarm_checked(write_swarm(tmp_path, policy="patterm"))
    (problem,) = caught.value.problems
    assert problem.line == 4
    assert "unknown policy 'patterm'" in problem.message
    assert "did you mean 'patterns'?" in problem.message
    expected = problem.message.split("expected one of: ")[1]
    assert "patterns" in expected.rstrip(")").split(", ")


def test_chimera_run_denies_a_leaked_key_without_echoing_it(tmp_path: Path) -> None:
    path = write_swarm(tmp_path, answer=json.dumps(f"the key is {AWS_KEY}"))
    out = tmp_path / "outcomes.jsonl"
    result = run_cli("run", str(path), "--json", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["totals"]["denied"] == 1
    (outcome,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert outcome["outcome"] == "denied"
    assert outcome["reason"] == "output matches deny pattern 'aws_access_key_id' in field 'answer'"
    assert outcome["output"] is None
    assert AWS_KEY not in result.stdout


def test_a_bad_regex_in_swarm_yaml_stops_the_run_at_start(tmp_path: Path) -> None:
    path = write_swarm(tmp_path)
    path.write_text(path.read_text().replace("[.]corp", "(corp"))
    result = run_cli("run", str(path), "--json")
    assert result.exit_code == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"{path}:6:36: judge.options.deny_patterns.internal_host: invalid regex")


def test_bad_options_are_located_at_the_level_that_sets_them(tmp_path: Path) -> None:
    path = write_swarm(tmp_path)
    path.write_text(
        path.read_text().replace(
            "  acme: {skills: [answer]}",
            "  acme:\n    skills: [answer]\n    judge:\n      options: {max_lengths: {answer: -1}}",
        )
    )
    with pytest.raises(ConfigError) as caught:
        load_swarm_checked(path)
    (problem,) = caught.value.problems
    assert (problem.file, problem.line) == (path, 11)
    assert problem.message == "judge.options.max_lengths.answer: expected a whole number >= 0"


def test_the_module_docstring_example_is_valid_yaml_options() -> None:
    import chimera_swarm_pattern_policy as module
    import yaml

    doc = module.__doc__ or ""
    block = textwrap.dedent(doc.split("::\n", 1)[1].split("\n\n", 1)[0])
    options = yaml.safe_load(block)["judge"]["options"]
    rules = compile_rules(options)
    assert "internal_host" in [name for name, _ in rules.deny]
    assert "email" not in [name for name, _ in rules.review]


def test_the_readme_example_compiles_and_decides_as_described() -> None:
    import yaml

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    block = readme.split("```yaml\n", 1)[1].split("```", 1)[0]
    options = yaml.safe_load(block)["judge"]["options"]
    rules = compile_rules(options)
    assert "phone_number" not in [name for name, _ in rules.review]
    assert rules.max_lengths == {"summary": 2000, "items.text": 500, "*": 20000}


@pytest.mark.parametrize(
    "header",
    [
        "-----BEGIN PRIVATE KEY-----",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----",
        "-----BEGIN EC PRIVATE KEY-----",
        "-----BEGIN OPENSSH PRIVATE KEY-----",
        "-----BEGIN PGP PRIVATE KEY BLOCK-----",
    ],
)
async def test_every_private_key_header_is_denied(header: str) -> None:
    decision = await decide({"answer": f"{header}\nabc"})
    assert "'private_key'" in decision.reason
