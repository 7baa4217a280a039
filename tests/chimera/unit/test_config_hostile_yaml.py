"""Hostile YAML through the loader: only ConfigError comes out, at file:line:col, bounded."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import pytest

from chimera.config import limits
from chimera.config.errors import ConfigError, Problem
from chimera.config.loader import load_swarm
from chimera.config.yaml_source import KEY, SourceMap, load_yaml
from tests.chimera.unit.test_config_loader import SKILL, SWARM, Project, only, where


@pytest.fixture
def project(tmp_path: Path) -> Project:
    proj = Project(tmp_path)
    proj.write("swarm.yaml", SWARM)
    proj.write("skills/echo.yaml", SKILL)
    return proj


def problems_of(path: Path) -> list[Problem]:
    with pytest.raises(ConfigError) as exc:
        load_yaml(path, env={})
    return exc.value.problems


def write(tmp_path: Path, text: str | bytes, name: str = "f.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# --- bytes and characters -----------------------------------------------------------------


def test_non_utf8_file_names_the_byte_its_offset_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, b"name: ok\ndescription: caf\xe9 au lait\n")
    problem = only(problems_of(path))
    assert (problem.line, problem.col) == (2, 17)
    assert problem.message == "not valid UTF-8: byte 0xe9 at offset 25 (save the file as UTF-8)"


def test_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, b"\xef\xbb\xbfname: ok\n")
    assert load_yaml(path, env={})[0] == {"name": "ok"}


@pytest.mark.parametrize(
    ("text", "code", "col"),
    [("a: x\x00y\n", "U+0000", 5), ("a: \x1b[31mred\n", "U+001B", 4), ("a: \x7f\n", "U+007F", 4)],
)
def test_characters_yaml_rejects_are_one_problem_at_their_place(
    tmp_path: Path, text: str, code: str, col: int
) -> None:
    path = write(tmp_path, "ok: 1\n" + text)
    problem = only(problems_of(path))
    assert (problem.line, problem.col) == (2, col)
    assert problem.message == f"character {code} is not allowed in YAML"


def test_a_file_over_the_size_limit_is_refused_before_parsing(tmp_path: Path) -> None:
    path = write(tmp_path, "a: [" + "x, " * (limits.MAX_FILE_BYTES // 3 + 1) + "x]\n")
    problem = only(problems_of(path))
    assert (problem.line, problem.col) == (1, 1)
    assert problem.message.startswith("file is larger than 1024 KiB")


def test_a_named_pipe_is_refused_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "swarm.yaml"
    os.mkfifo(fifo)
    problem = only(problems_of(fifo))
    assert problem.message == "not a regular file"


def test_a_folder_is_refused(tmp_path: Path) -> None:
    problem = only(problems_of(tmp_path))
    assert problem.message.startswith("cannot read file")


# --- tags -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "tag", "kind"),
    [
        ("!!python/object:os.system ls", "!!python/object:os.system", "a scalar"),
        ("!!python/object/apply:os.system [ls]", "!!python/object/apply:os.system", "a list"),
        ("!vault |\n  $ANSIBLE_VAULT;1.1;AES256", "!vault", "a scalar"),
        ("!Ref MyBucket", "!Ref", "a scalar"),
        ("!!timestamp 2020-01-01", "!!timestamp", "a scalar"),
        ("!!binary aGVsbG8=", "!!binary", "a scalar"),
        ("!!set {a, b}", "!!set", "a mapping"),
        ("!!omap [{a: 1}]", "!!omap", "a list"),
        ("!<tag:example.com,2024:thing> x", "tag:example.com,2024:thing", "a scalar"),
    ],
)
def test_tags_outside_the_json_core_are_refused_by_name(
    tmp_path: Path, value: str, tag: str, kind: str
) -> None:
    path = write(tmp_path, f"ok: 1\nbad: {value}\n")
    problem = only(problems_of(path))
    assert (problem.line, problem.col) == (2, 6)
    assert problem.message.startswith(f"unsupported tag {tag!r} on {kind} (allowed: !!str")


def test_core_tags_and_the_non_specific_tag_are_accepted(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "a: !!str 12\nb: ! 12\nc: !!int '0x1F'\nd: !!float 1\ne: !!bool yes\nf: !!null ~\n"
        "g: !!seq [1]\nh: !!map {x: 1}\n",
    )
    assert load_yaml(path, env={})[0] == {
        "a": "12",
        "b": "12",
        "c": 31,
        "d": 1.0,
        "e": True,
        "f": None,
        "g": [1],
        "h": {"x": 1},
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("!!int high", "'high' is not a valid !!int"),
        ("!!bool maybe", "'maybe' is not a valid !!bool"),
        ("!!float fast", "'fast' is not a valid !!float"),
        ("!!null nothing", "'nothing' is not a valid !!null"),
        ("!!int 0x_", "integer '0x_' is not a valid !!int"),
        ("!!timestamp 2020-13-45", "unsupported tag '!!timestamp' on a scalar"),
        (".inf", "'.inf' is not a JSON number (no .inf or .nan)"),
        ("-.Inf", "'-.Inf' is not a JSON number (no .inf or .nan)"),
        (".nan", "'.nan' is not a JSON number (no .inf or .nan)"),
        ("1.0e+999", "'1.0e+999' is not a JSON number (no .inf or .nan)"),
    ],
)
def test_scalars_that_do_not_fit_their_tag(tmp_path: Path, value: str, message: str) -> None:
    path = write(tmp_path, f"value: {value}\n")
    problem = only(problems_of(path))
    assert (problem.line, problem.col) == (1, 8)
    assert problem.message.startswith(message)


@pytest.mark.parametrize(
    "written", ["0x" + "f" * 3600, "0b" + "1" * 14300, "1" + ":59" * 2500, "1" + ":59" * 300_000]
)
def test_an_integer_too_large_to_print_is_a_problem_however_written(
    tmp_path: Path, written: str
) -> None:
    path = write(tmp_path, f"ok: 0x{'f' * 3500}\nbig: {written}\n")
    problem = only(problems_of(path))
    assert (problem.line, problem.col) == (2, 6)
    assert problem.message.endswith("has more than 4300 digits")


def test_an_integer_over_4300_digits_is_a_problem_not_a_value_error(tmp_path: Path) -> None:
    path = write(tmp_path, "small: " + "9" * 4300 + "\nbig: " + "9" * 4301 + "\n")
    problem = only(problems_of(path))
    assert (problem.line, problem.col) == (2, 6)
    assert problem.message == (
        "integer '9999999999999999999999999999999999999999' has more than 4300 digits"
    )


def test_plain_dates_stay_strings(tmp_path: Path) -> None:
    path = write(tmp_path, "a: 2024-03-01\nb: 2020-13-45\nc: 2024-03-01T10:00:00Z\n")
    assert load_yaml(path, env={})[0] == {
        "a": "2024-03-01",
        "b": "2020-13-45",
        "c": "2024-03-01T10:00:00Z",
    }


# --- structure: depth, documents, aliases, merge keys ---------------------------------------


def test_nesting_at_the_limit_loads_and_one_deeper_is_a_problem(tmp_path: Path) -> None:
    depth = limits.MAX_DEPTH
    fine = write(tmp_path, "[" * depth + "]" * depth + "\n", "fine.yaml")
    value, _ = load_yaml(fine, env={})
    assert isinstance(value, list)
    deep = write(tmp_path, "a: " + "[" * depth + "]" * depth + "\n", "deep.yaml")
    problem = only(problems_of(deep))
    assert (problem.line, problem.col) == (1, 3 + depth)  # the mapping is level 1
    assert problem.message == f"nested more than {depth} levels deep"


def test_very_deep_nesting_stops_at_the_limit_without_recursion(tmp_path: Path) -> None:
    path = write(tmp_path, "a:\n" + "".join(" " * i + "- \n" for i in range(2, 400)) + "\n")
    flow = write(tmp_path, "a: " + "{b: " * 100_000 + "1" + "}" * 100_000 + "\n", "flow.yaml")
    for file in (path, flow):
        problem = only(problems_of(file))
        assert problem.message == f"nested more than {limits.MAX_DEPTH} levels deep"


def test_an_alias_inside_its_own_anchor_is_a_problem(tmp_path: Path) -> None:
    path = write(tmp_path, "ok: 1\nname: &a [x, *a]\n")
    problem = only(problems_of(path))
    assert (problem.line, problem.col) == (2, 14)
    assert problem.message == "alias *a is used inside its own anchor &a"


def test_an_alias_without_anchor_is_a_problem(tmp_path: Path) -> None:
    path = write(tmp_path, "a: *nowhere\n")
    problem = only(problems_of(path))
    assert (problem.line, problem.col, problem.message) == (
        1,
        4,
        "alias *nowhere has no anchor before it",
    )


def test_aliases_share_the_anchored_value_and_point_at_their_use(tmp_path: Path) -> None:
    path = write(tmp_path, "base: &b {x: [1, 2]}\ncopy: *b\n")
    value, source = load_yaml(path, env={})
    assert value == {"base": {"x": [1, 2]}, "copy": {"x": [1, 2]}}
    assert source.problem(("copy", "x", 1), "m") == Problem(path, 2, 7, "m")


def test_an_alias_placed_deep_counts_the_depth_of_its_value(tmp_path: Path) -> None:
    half = limits.MAX_DEPTH // 2 + 1
    path = write(tmp_path, f"a: &a {'[' * half}{']' * half}\nb: {'[' * half}*a{']' * half}\n")
    problem = only(problems_of(path))
    assert problem.line == 2
    assert problem.message == f"nested more than {limits.MAX_DEPTH} levels deep"


def alias_bomb(levels: int) -> str:
    lines = ["b0: &b0 [" + ", ".join(["lol"] * 9) + "]"]
    for level in range(1, levels):
        lines.append(f"b{level}: &b{level} [" + ", ".join([f"*b{level - 1}"] * 9) + "]")
    lines.append(f"x: *b{levels - 1}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("levels", [7, 9])
def test_an_alias_bomb_stops_at_the_value_budget_in_little_memory(
    tmp_path: Path, levels: int
) -> None:
    path = write(tmp_path, alias_bomb(levels))
    tracemalloc.start()
    try:
        problems = problems_of(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    problem = only(problems)
    assert problem.message.startswith(
        f"the file expands to more than {limits.MAX_VALUES:,} values (aliases count once per use)"
    )
    assert problem.line == 6  # b5: nine uses of b4 (9**5 values each) cross the budget
    assert peak < 20 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"


def test_an_alias_bomb_in_a_swarm_file_is_one_problem(project: Project) -> None:
    project.write("swarm.yaml", SWARM + alias_bomb(8))
    problem = only(project.problems())
    assert problem.file == project.swarm
    assert "values (aliases count once per use)" in problem.message


def test_a_second_document_is_a_problem(tmp_path: Path) -> None:
    path = write(tmp_path, "a: 1\n---\nb: 2\n")
    problem = only(problems_of(path))
    assert (problem.line, problem.col) == (2, 1)
    assert problem.message == "expected a single YAML document; another one starts here"


def test_merge_keys_merge_with_written_keys_winning(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "defaults: &d {approve_at: 0.8, review_at: 0.5}\n"
        "strict: &s {approve_at: 0.95, on_deny: retry}\n"
        "acme:\n  <<: [*s, *d]\n  review_at: 0.6\n"
        "globex: {<<: {policy: patterns}, policy: threshold}\n",
    )
    value, source = load_yaml(path, env={})
    assert value["acme"] == {"review_at": 0.6, "approve_at": 0.95, "on_deny": "retry"}
    assert value["globex"] == {"policy": "threshold"}
    # A merged value is found at its merge key; a written one at itself.
    assert source.problem(("acme", "approve_at"), "m") == Problem(path, 4, 7, "m")
    assert source.problem(("acme", "review_at"), "m") == Problem(path, 5, 14, "m")


@pytest.mark.parametrize("value", ["3", "[1, 2]", "[]", "[*a, 3]"])
def test_a_merge_key_needs_mappings(tmp_path: Path, value: str) -> None:
    path = write(tmp_path, f"base: &a {{x: 1}}\nt:\n  <<: {value}\n")
    problem = only(problems_of(path))
    assert (problem.line, problem.col) == (3, 7)
    assert problem.message == "a merge key '<<' takes a mapping or a list of mappings"


def test_a_quoted_merge_key_is_an_ordinary_key(tmp_path: Path) -> None:
    path = write(tmp_path, "t: {'<<': 1}\n")
    assert load_yaml(path, env={})[0] == {"t": {"<<": 1}}


def test_merged_settings_reach_the_swarm(project: Project) -> None:
    text = SWARM.replace(
        "judge:\n  approve_at: 0.8\n  review_at: 0.5\n",
        "judge: &j\n  approve_at: 0.8\n  review_at: 0.5\n",
    ).replace(
        "  acme:\n    skills: [echo]\n",
        "  acme:\n    skills: [echo]\n    judge: {<<: *j, approve_at: 0.9}\n",
    )
    project.write("swarm.yaml", text)
    swarm = project.load()
    assert swarm.judge_for("acme", "echo").thresholds.approve_at == 0.9
    assert swarm.judge_for("acme", "echo").thresholds.review_at == 0.5


def test_errors_in_merged_values_point_at_the_merge(project: Project) -> None:
    text = SWARM.replace("tenants:\n", "x-defaults: &bad {approve_at: 7}\ntenants:\n").replace(
        "  acme:\n    skills: [echo]\n", "  acme:\n    skills: [echo]\n    judge: {<<: *bad}\n"
    )
    project.write("swarm.yaml", text)
    problems = [p for p in project.problems() if "approve_at" in p.message]
    assert [p.line for p in problems] == [where(project.swarm, "<<: *bad")[0]]


# --- the loader as a whole ------------------------------------------------------------------


def test_deep_option_values_reach_pydantic_without_recursion(project: Project) -> None:
    depth = limits.MAX_DEPTH - 2
    nested = "[" * depth + "]" * depth
    project.write("skills/echo.yaml", SKILL + f"options: {{deep: {nested}}}\n")
    swarm = project.load()
    assert "deep" in swarm.skill("echo").config.options


def test_a_deep_input_schema_loads_and_checks_values(project: Project) -> None:
    levels = limits.MAX_DEPTH // 2 - 2
    schema = "{type: string}"
    for _ in range(levels):
        schema = f"{{type: object, properties: {{a: {schema}}}}}"
    text = SKILL.replace(
        "    times: {type: integer}\n", f"    times: {{type: integer}}\n    deep: {schema}\n"
    )
    project.write("skills/echo.yaml", text)
    skill = project.load().skill("echo")
    value: object = "x"
    for _ in range(levels):
        value = {"a": value}
    assert skill.input_errors({"text": "t", "deep": value}) == []


def test_source_map_and_problem_stay_backward_compatible(tmp_path: Path) -> None:
    path = write(tmp_path, "a:\n  b: 1\n")
    value, source = load_yaml(path, {"UNUSED": "x"})
    assert value == {"a": {"b": 1}}
    assert isinstance(source, SourceMap)
    assert source.problem(("a", "b", KEY), "m", line_offset=1) == Problem(path, 3, 3, "m")
    assert SourceMap(path).problem(("x",), "m") == Problem(path, 1, 1, "m")
    assert str(ConfigError([Problem(path, 2, 3, "m")])) == f"{path}:2:3: m"


def test_load_swarm_accepts_a_string_path(project: Project) -> None:
    assert load_swarm(str(project.swarm)).config.name == "test-swarm"


def test_a_long_string_aliased_many_times_stops_at_the_text_budget(tmp_path: Path) -> None:
    long = "x" * 400_000
    path = write(tmp_path, f"big: &s '{long}'\nmany: [{', '.join(['*s'] * 20)}]\n")
    tracemalloc.start()
    try:
        problem = only(problems_of(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert problem.line == 2
    assert problem.message.startswith("the file expands to more than 4 MiB of text")
    assert peak < 20 * 1024 * 1024


def test_environment_values_count_towards_the_text_budget(tmp_path: Path) -> None:
    path = write(tmp_path, "many: [" + ", ".join(["'${BIG}'"] * 50) + "]\n")
    with pytest.raises(ConfigError) as exc:
        load_yaml(path, env={"BIG": "y" * 100_000})
    assert "MiB of text" in only(exc.value.problems).message
    fine, _ = load_yaml(path, env={"BIG": "y" * 1000})
    assert len(fine["many"]) == 50


def test_an_anchor_on_a_key_can_be_used_as_a_value_or_a_key(tmp_path: Path) -> None:
    path = write(tmp_path, "&k name: 1\nother: *k\n*k : 2\n")
    problem = only(problems_of(path))
    assert (problem.line, problem.message) == (3, "duplicate key 'name'")
    path = write(tmp_path, "&k name: 1\nother: *k\n")
    assert load_yaml(path, env={})[0] == {"name": 1, "other": "name"}
