"""Fuzzing the loader: mutated demo files and raw bytes give a Swarm or a ConfigError, never
anything else, each problem on one line at a real place, within bounded memory.

The examples are derandomized (the same every run) so CI is stable; to search wider
locally, run with ``CHIMERA_FUZZ_EXAMPLES=5000`` (and, for new examples each run,
``CHIMERA_FUZZ_RANDOM=1``).
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chimera.config.errors import ConfigError
from chimera.config.loader import KnownNames, load_swarm
from chimera.config.swarm import Swarm
from chimera.config.yaml_source import load_yaml
from chimera.services.mock_output import CannotGenerate, generate_output

REPO = Path(__file__).resolve().parents[3]
DEMO_FILES = ["swarm.yaml", *sorted(f"skills/{p.name}" for p in (REPO / "skills").glob("*.yaml"))]
DEMO = {name: yaml.safe_load((REPO / name).read_text(encoding="utf-8")) for name in DEMO_FILES}
KNOWN = KnownNames(backends=["mock", "openai"], policies=["threshold"], sinks=["log", "redis"])

#: Most memory one example may take while loading (the files are a few KB).
MEMORY_LIMIT = 64 * 1024 * 1024

EXAMPLES = int(os.environ.get("CHIMERA_FUZZ_EXAMPLES", "0"))
FUZZ = settings(
    max_examples=EXAMPLES or 300,
    derandomize=not os.environ.get("CHIMERA_FUZZ_RANDOM"),
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@contextmanager
def project(name: str = "swarm.yaml") -> Iterator[Path]:
    """A temporary copy of the demo swarm; for a skill file, that skill and a small swarm
    that uses it (a third of the loading time, so more examples fit the time budget)."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "skills").mkdir()
        for file in DEMO_FILES if name == "swarm.yaml" else [name]:
            shutil.copyfile(REPO / file, root / file)
        if name != "swarm.yaml":
            swarm = {
                "skills": ["skills/*.yaml"],
                "mcp_servers": DEMO["swarm.yaml"].get("mcp_servers", {}),
                "tenants": {"acme": {"skills": [DEMO[name]["name"]]}},
            }
            (root / "swarm.yaml").write_text(yaml.safe_dump(swarm), encoding="utf-8")
        yield root


def check_load(swarm_file: Path) -> None:
    """Load, allowing only success or ConfigError, and check what either gives."""
    tracemalloc.start()
    try:
        swarm: Swarm | ConfigError
        try:
            swarm = load_swarm(swarm_file, KNOWN)
        except ConfigError as exc:
            swarm = exc
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_LIMIT, f"peak {peak / 1e6:.0f} MB"
    if isinstance(swarm, Swarm):
        exercise(swarm)
        return
    assert swarm.problems
    for problem in swarm.problems:
        line = str(problem)
        assert len(line.splitlines()) == 1, line
        assert problem.line >= 1, line
        assert problem.col >= 1, line
        assert problem.file.is_relative_to(swarm_file.parent), line


def exercise(swarm: Swarm) -> None:
    """What workers do with a loaded swarm must not raise either."""
    assert len(swarm.fingerprint) == 12
    for job in swarm.config.jobs:
        if job.skill is not None:
            assert swarm.skill(job.skill).input_errors(job.input) == []
        elif job.pipeline is not None:
            assert swarm.pipelines[job.pipeline].input_errors(job.input) == []
    for skill in swarm.skills.values():
        assert isinstance(skill.input_errors({"any": ["thing", {"deep": 1}]}), list)
        if skill.config.backend == "mock" and skill.config.mock.output is None:
            try:
                output = generate_output(skill.config.output_schema, "fuzz")
            except CannotGenerate:
                continue
            assert skill.output_errors(output) == []


# --- (a) structures: the demo files, mutated ------------------------------------------------

ODD_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.sampled_from(
        [
            "",
            "x" * 5000,
            "{{ unknown_var }}",
            "{{ text | upcase }}",
            "{% if x is odd2 %}{% endif %}",
            "{{ ''.__class__ }}",
            "${CHIMERA_FUZZ_UNSET}",
            "$${ESCAPED}",
            "../../../../etc/*",
            "/**/*.yaml",
            "skills/**/*.yaml",
            "#",
            "#/$defs/nowhere",
            "https://example.com/s.json",
            "(a+)+$",
            "[z-a]",
            "a{99999999999}",
            "bad name!",
            "2024-13-45",
            10**400,
            -1,
            0,
            1.5e308,
        ]
    ),
)
ODD_VALUES = st.recursive(
    ODD_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
SCHEMA_BITS = st.sampled_from(
    [
        {"$ref": "#"},
        {"$ref": "https://example.com/x.json"},
        {"$ref": "#/$defs/missing"},
        {"allOf": [{"$ref": "#"}]},
        {"type": "strin"},
        {"pattern": "(?=a)b"},
        {"patternProperties": {"^x": {}}},
        {"not": {}},
        {"minimum": 5, "maximum": 1},
        {"enum": []},
        {"$schema": "https://example.com/dialect"},
        {"format": "regex"},
        {"oneOf": [{"type": "integer"}, {"type": "integer"}]},
        {"type": "array", "minItems": 100000},
    ]
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from paths(child, (*prefix, index))


def deep(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, Any]:
    name = draw(st.sampled_from(DEMO_FILES))
    data = yaml.safe_load(yaml.safe_dump(DEMO[name]))
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.sampled_from(list(paths(data))))
        parent, key = (None, None) if not where else (follow(data, where[:-1]), where[-1])
        action = draw(st.sampled_from(["delete", "replace", "schema", "deep", "rename", "retype"]))
        if parent is None:
            data = draw(ODD_VALUES) if action != "schema" else copy.deepcopy(draw(SCHEMA_BITS))
            continue
        if action == "delete":
            del parent[key]
        elif action == "replace":
            parent[key] = draw(ODD_VALUES)
        elif action == "schema" and isinstance(parent[key], dict):
            parent[key].update(copy.deepcopy(draw(SCHEMA_BITS)))
        elif action == "deep":
            parent[key] = deep(draw(st.integers(50, 150)))
        elif action == "rename" and isinstance(parent, dict):
            parent[str(key) + draw(st.sampled_from(["_", "s", "X"]))] = parent.pop(key)
        elif action == "retype":
            value = parent[key]
            parent[key] = [value] if not isinstance(value, list) else {"k": value}
    return name, data


def follow(data: Any, where: tuple[Any, ...]) -> Any:
    for part in where:
        data = data[part]
    return data


TEXT_EDITS = st.sampled_from(
    [
        ("tag", "!!python/object:os.system "),
        ("tag", "!vault "),
        ("tag", "!!int "),
        ("tag", "!!timestamp "),
        ("tag", "!!binary "),
        ("tag", "!!set "),
        ("tag", "!Ref "),
        ("tag", "!!float "),
        ("tag", "!!bool "),
        ("anchor", "&a "),
        ("alias", "*a"),
        ("self", "&s [*s]"),
        ("merge", "<<: *a"),
        ("merge", "<<: [1, 2]"),
        ("line", "\x00"),
        ("line", "\x1b[31m"),
        ("line", "---"),
        ("line", "%YAML 1.1"),
        ("line", "\t- tab"),
        ("dup", ""),
        ("cut", ""),
    ]
)


def edit_text(text: str, edits: list[tuple[tuple[str, str], int]]) -> str:
    lines = text.splitlines()
    for (kind, token), position in edits:
        if not lines:
            break
        index = position % len(lines)
        line = lines[index]
        if kind in ("tag", "anchor") and ": " in line:
            head, _, tail = line.partition(": ")
            lines[index] = f"{head}: {token}{tail}"
        elif kind in ("alias", "self") and ": " in line:
            lines[index] = line.partition(": ")[0] + ": " + token
        elif kind == "merge":
            indent = len(line) - len(line.lstrip())
            lines.insert(index, " " * indent + token)
        elif kind == "line":
            lines.insert(index, token)
        elif kind == "dup":
            lines.insert(index, line)
        elif kind == "cut":
            return "\n".join(lines)[: position % (len(text) + 1)]
    return "\n".join(lines) + "\n"


@settings(FUZZ, max_examples=EXAMPLES or 160)
@given(
    change=mutated(),
    edits=st.lists(st.tuples(TEXT_EDITS, st.integers(0, 10_000)), max_size=3),
)
def test_mutated_demo_files_give_a_swarm_or_config_errors(
    change: tuple[str, Any], edits: list[tuple[tuple[str, str], int]]
) -> None:
    name, data = change
    text = edit_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), edits)
    with project(name) as root:
        (root / name).write_text(text, encoding="utf-8")
        check_load(root / "swarm.yaml")


# --- (b) raw bytes ----------------------------------------------------------------------------

TOKENS = st.sampled_from(
    [
        b"a: ", b"name: ", b"skills: ", b"- ", b"[", b"]", b"{", b"}", b", ", b"\n", b"\n  ",
        b"&a ", b"*a", b"&b ", b"*b", b"<<: ", b"? ", b": ", b"'", b'"', b"|\n  ", b">-\n  ",
        b"#c\n", b"---\n", b"...\n", b"%YAML 1.1\n", b"%TAG ! tag:x,2024:\n",
        b"!!python/object/apply:os.system ", b"!vault ", b"!!int ", b"!!float ", b"!!timestamp ",
        b"!<tag:yaml.org,2002:str> ", b"!", b"${X}", b"$${X}", b"${CHIMERA_FUZZ_UNSET:-d}",
        b"9" * 5000, b"0x_", b".nan", b".inf", b"~", b"2020-13-45", b"yes", b"\x00", b"\x1b",
        b"\xff", b"\xc3", b"\xef\xbb\xbf", b"\t", b"\r\n", "é".encode(), "\U0001f600".encode(),
        b"{{ x | upcase }}", b"$ref: '#'",
    ]
)  # fmt: skip


@st.composite
def yamlish(draw: st.DrawFn) -> bytes:
    return b"".join(draw(st.lists(TOKENS, max_size=60)))


@settings(FUZZ, max_examples=EXAMPLES or 300)
@given(data=st.binary(max_size=400) | yamlish(), as_skill=st.booleans())
def test_raw_bytes_give_a_swarm_or_config_errors(data: bytes, as_skill: bool) -> None:
    with project("skills/summarise.yaml") as root:
        target = root / ("skills/summarise.yaml" if as_skill else "swarm.yaml")
        target.write_bytes(data)
        check_load(root / "swarm.yaml")


@settings(FUZZ, max_examples=EXAMPLES or 100)
@given(data=yamlish())
def test_raw_bytes_appended_to_the_demo_swarm(data: bytes) -> None:
    with project() as root:
        swarm = root / "swarm.yaml"
        swarm.write_bytes(swarm.read_bytes() + data)
        check_load(swarm)


# --- (c) the builder agrees with PyYAML on ordinary documents --------------------------------

JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=6),
            inner,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@st.composite
def shared(draw: st.DrawFn) -> Any:
    """A document in which some values appear twice (PyYAML writes anchors and aliases)."""
    part = draw(JSONISH.filter(lambda v: isinstance(v, list | dict)))
    return {"a": part, "b": [part, draw(JSONISH)], "c": part}


@settings(FUZZ, max_examples=EXAMPLES or 200)
@given(data=JSONISH | shared(), flow=st.sampled_from([None, True, False]))
def test_ordinary_documents_load_as_pyyaml_loads_them(data: Any, flow: bool | None) -> None:
    text = yaml.safe_dump(data, default_flow_style=flow, allow_unicode=True)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "doc.yaml"
        path.write_text(text, encoding="utf-8")
        assert load_yaml(path, env={})[0] == yaml.safe_load(text)
