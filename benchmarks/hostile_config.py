"""Time and peak memory of loading the nastiest configuration files.

Prints a table; it is a measurement, not a test. Each case runs ``load_swarm`` in a fresh
subprocess (so peak RSS is that case's alone) under a wall-clock limit. Usage:

    uv run python benchmarks/hostile_config.py [--timeout S] [--case NAME]

Cases: an alias bomb (``b0: &b0 [lol, ...x9]`` ... ``b6``, ``x: *b6``: 9**7 nodes when
expanded), a 400 KB string aliased 90,000 times (36 GB once serialised), skill globs over
two symlink loops, a skill glob from the filesystem root, YAML nested 100,000 levels deep,
a self-referencing alias, a 5 MB flow sequence, and two files just inside the bounds (the
slowest a file that loads can be).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

SKILL = """\
name: echo
prompt: "{{ text }}"
input_schema: {type: object, properties: {text: {type: string}}}
output_schema: {type: object}
"""

SWARM = """\
skills: [%s]
tenants:
  acme: {skills: [echo]}
"""


def _project(root: Path, skills: str = "skills/*.yaml", extra: str = "") -> Path:
    (root / "skills").mkdir(parents=True, exist_ok=True)
    (root / "skills" / "echo.yaml").write_text(SKILL)
    swarm = root / "swarm.yaml"
    swarm.write_text(SWARM % skills + extra)
    return swarm


def alias_bomb(root: Path) -> Path:
    lines = ["b0: &b0 [" + ", ".join(["lol"] * 9) + "]"]
    for level in range(1, 7):
        lines.append(f"b{level}: &b{level} [" + ", ".join([f"*b{level - 1}"] * 9) + "]")
    lines.append("x: *b6")
    return _project(root, extra="\n".join(lines) + "\n")


def text_bomb(root: Path) -> Path:
    refs = ", ".join(["*s"] * 90_000)
    return _project(root, extra=f"judge:\n  options: {{big: &s '{'x' * 400_000}', l: [{refs}]}}\n")


def glob_loops(root: Path) -> Path:
    swarm = _project(root, skills='"skills/**/*.yaml"')
    os.symlink(".", root / "skills" / "l1")
    os.symlink(".", root / "skills" / "l2")
    return swarm


def glob_root(root: Path) -> Path:
    return _project(root, skills='"skills/*.yaml", "/**/*.yaml"')


def deep_nesting(root: Path) -> Path:
    depth = 100_000
    return _project(root, extra="deep: " + "[" * depth + "]" * depth + "\n")


def self_alias(root: Path) -> Path:
    return _project(root, extra="name: &a [*a]\n")


def big_flow(root: Path) -> Path:
    return _project(root, extra="jobs: [" + ", ".join(["x"] * 2_500_000) + "]\n")


def near_budget(root: Path) -> Path:
    """Just inside the bounds: 99,000 values, each one a validation problem."""
    return _project(root, extra="jobs: [" + ", ".join(["x"] * 99_000) + "]\n")


def alias_near_budget(root: Path) -> Path:
    """An alias tree just inside the value budget: 9**5 values at the end of 75,000 built."""
    lines = ["b0: &b0 [" + ", ".join(["lol"] * 9) + "]"]
    for level in range(1, 4):
        lines.append(f"b{level}: &b{level} [" + ", ".join([f"*b{level - 1}"] * 9) + "]")
    lines.append("jobs: [" + ", ".join(["*b3"] * 9) + "]")
    return _project(root, extra="\n".join(lines) + "\n")


CASES: dict[str, Callable[[Path], Path]] = {
    "alias bomb (9**7 nodes)": alias_bomb,
    "400 KB string aliased 90,000 times": text_bomb,
    "skills/**/*.yaml + 2 symlink loops": glob_loops,
    "skills: ['/**/*.yaml']": glob_root,
    "nesting 100,000 deep": deep_nesting,
    "name: &a [*a]": self_alias,
    "5 MB flow sequence": big_flow,
    "99,000 bad jobs (inside the bounds)": near_budget,
    "alias tree of 9**5 (inside the bounds)": alias_near_budget,
}

CHILD = textwrap.dedent(
    """\
    import json, resource, sys, time
    from chimera.config.errors import ConfigError
    from chimera.config.loader import load_swarm
    start = time.perf_counter()
    try:
        load_swarm(sys.argv[1])
        outcome = "loaded"
    except ConfigError as exc:
        outcome = "ConfigError: " + str(exc.problems[0])
    except BaseException as exc:
        outcome = type(exc).__name__ + ": " + str(exc)[:80]
    elapsed = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": elapsed, "peak_mb": peak_kb / 1024, "outcome": outcome}))
    """
)


def run_case(make: Callable[[Path], Path], timeout: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as folder:
        swarm = make(Path(folder))
        start = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(swarm)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        peak_kb = 0
        while child.poll() is None and time.perf_counter() - start < timeout:
            peak_kb = max(peak_kb, _high_water_kb(child.pid))
            time.sleep(0.05)
        if child.poll() is None:
            peak_kb = max(peak_kb, _high_water_kb(child.pid))
            child.kill()
            child.communicate()
            elapsed = time.perf_counter() - start
            return {"seconds": elapsed, "peak_mb": peak_kb / 1024, "outcome": "timeout (killed)"}
        out, err = child.communicate()
        if child.returncode != 0 or not out.strip():
            tail = (err.strip().splitlines() or ["?"])[-1]
            elapsed = time.perf_counter() - start
            return {"seconds": elapsed, "peak_mb": peak_kb / 1024, "outcome": tail}
        result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
        return result


def _high_water_kb(pid: int) -> int:
    """The process's peak resident memory so far (Linux), 0 where unknown."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=120.0, help="Seconds per case.")
    parser.add_argument("--case", action="append", help="Run only cases containing this.")
    args = parser.parse_args()
    print(f"{'case':38} {'seconds':>9} {'peak MB':>9}  outcome")
    for name, make in CASES.items():
        if args.case and not any(part in name for part in args.case):
            continue
        row = run_case(make, args.timeout)
        outcome = str(row["outcome"])[:110]
        print(f"{name:38} {row['seconds']:9.2f} {row['peak_mb']:9.0f}  {outcome}", flush=True)


if __name__ == "__main__":
    main()
