"""``chimera validate`` on the nastiest files, as a real process: exit 2, one line per problem,
never a traceback."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

PROBLEM_LINE = re.compile(r"^(?P<file>/.+?):(?P<line>\d+):(?P<col>\d+): (?P<message>.+)$")

GOOD = """\
name: {name}
prompt: "{{{{ text }}}}"
input_schema: {{type: object, properties: {{text: {{type: string}}}}}}
output_schema: {{type: object, properties: {{out: {{type: string}}}}}}
"""


def bomb(levels: int) -> str:
    lines = ["b0: &b0 [" + ", ".join(["lol"] * 9) + "]"]
    lines += [f"b{i}: &b{i} [" + ", ".join([f"*b{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "\n".join([*lines, f"x: *b{levels - 1}"]) + "\n"


NASTY: dict[str, str | bytes] = {
    "nul.yaml": GOOD.format(name="nul").replace("{{ text }}", "{{ text }}\x00"),
    "escape.yaml": GOOD.format(name="esc") + "description: \x1b[31mred\n",
    "latin1.yaml": GOOD.format(name="latin").encode() + b"description: caf\xe9\n",
    "python_tag.yaml": GOOD.format(name="py") + "options: !!python/object/apply:os.system [id]\n",
    "vault.yaml": GOOD.format(name="vault") + "model: !vault |\n  $ANSIBLE_VAULT;1.1\n",
    "bad_int.yaml": GOOD.format(name="badint") + "timeout_s: !!int high\n",
    "timestamp.yaml": GOOD.format(name="ts") + "version: !!timestamp 2020-13-45\n",
    "huge_int.yaml": GOOD.format(name="huge") + "timeout_s: " + "7" * 5000 + "\n",
    "bomb.yaml": GOOD.format(name="bomb") + bomb(9),
    "text_bomb.yaml": GOOD.format(name="textbomb")
    + f"options: {{big: &s '{'x' * 300_000}', many: [{', '.join(['*s'] * 50)}]}}\n",
    "deep.yaml": GOOD.format(name="deep") + "options: " + "[" * 50_000 + "]" * 50_000 + "\n",
    "self_alias.yaml": GOOD.format(name="selfref") + "options: {a: &a [*a]}\n",
    "filter.yaml": GOOD.format(name="filter").replace("{{ text }}", "{{ text | upcase }}"),
    "test.yaml": GOOD.format(name="test").replace(
        "{{ text }}", "{% if text is odd2 %}x{% endif %}"
    ),
    "ref_loop.yaml": GOOD.format(name="refloop").replace(
        "input_schema: {type: object,", "input_schema: {$ref: '#', type: object,"
    ),
    "remote_ref.yaml": GOOD.format(name="remote").replace(
        "{text: {type: string}}", "{text: {$ref: 'https://example.com/s.json'}}"
    ),
    "secret.yaml": GOOD.format(name="secret") + "timeout_s: ${CHIMERA_TEST_SECRET}\n",
    "mock_pattern.yaml": GOOD.format(name="mockpat").replace(
        "{out: {type: string}}", "{out: {type: string, pattern: '(?=a)b'}}"
    ),
}


def validate(swarm: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "CHIMERA_TEST_SECRET": "sk-canary-0123456789"}
    return subprocess.run(
        [sys.executable, "-m", "chimera", "validate", str(swarm)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


def assert_problem_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines
    for line in lines:
        assert PROBLEM_LINE.match(line), line
    return lines


def test_every_nasty_skill_is_reported_in_one_run(tmp_path: Path) -> None:
    skills = tmp_path / "skills"
    skills.mkdir()
    for name, content in NASTY.items():
        path = skills / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    os.symlink(".", skills / "loop1")
    os.symlink("..", skills / "loop2")
    swarm = tmp_path / "swarm.yaml"
    swarm.write_text(
        "skills: [skills/**/*.yaml, /**/*.yaml]\ntenants:\n  acme:\n    skills: [nul]\n",
        encoding="utf-8",
    )
    lines = assert_problem_lines(validate(swarm))
    for name in NASTY:
        assert any(line.startswith(f"{skills / name}:") for line in lines), name
    assert any("'/**/*.yaml': matching looked at more than" in line for line in lines)
    assert not any("sk-canary" in line for line in lines)
    assert any("${CHIMERA_TEST_SECRET}" in line for line in lines)
    assert not any(line.startswith(str(skills / "loop")) for line in lines)


@pytest.mark.parametrize(
    "content",
    [
        b"skills: [skills/*.yaml]\ntenants: {acme: {skills: [x]}}\nname: \xff\xfe\n",
        ("skills: [skills/*.yaml]\n" + bomb(9)).encode(),
        b"skills: " + b"{a: " * 100_000 + b"}" * 100_000 + b"\n",
    ],
)
def test_a_nasty_swarm_file_is_one_line(tmp_path: Path, content: bytes) -> None:
    swarm = tmp_path / "swarm.yaml"
    swarm.write_bytes(content)
    lines = assert_problem_lines(validate(swarm))
    assert len(lines) == 1
    assert lines[0].startswith(f"{swarm}:")
