"""The ``jsonl`` audit sink: per-tenant files, durable before return, chained, loud on failure."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from chimera_swarm_jsonl_audit import (
    DEFAULT_DIR,
    ENV_VAR,
    JsonlAuditSink,
    audit_dir,
    read_chain,
)

from chimera import GENESIS_HASH, AuditEvent, AuditEventType, AuditRecord, PluginContext
from chimera.testing import SinkConformance, build_sink, installed_registry, make_event, run_cli

HAS_PROC = Path("/proc/self/fd").is_dir()


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def events_of(path: Path) -> list[AuditEvent]:
    return [AuditEvent.model_validate(line["event"]) for line in lines(path)]


@pytest.fixture
def sink(tmp_path: Path) -> JsonlAuditSink:
    return JsonlAuditSink(tmp_path / "audit")


async def test_each_tenant_gets_its_own_file_in_order(sink: JsonlAuditSink) -> None:
    acme = [make_event(AuditEventType.RESULT), make_event(AuditEventType.DECISION)]
    globex = [make_event(AuditEventType.COMMITTED, tenant="globex")]
    await sink.write([acme[0], globex[0], acme[1]])
    more = make_event(AuditEventType.COMMITTED)
    await sink.write([more])

    assert sorted(p.name for p in sink.directory.iterdir()) == ["acme.jsonl", "globex.jsonl"]
    assert events_of(sink.path_for("acme")) == [*acme, more]
    assert events_of(sink.path_for("globex")) == globex


async def test_lines_are_numbered_and_hash_chained_per_tenant(sink: JsonlAuditSink) -> None:
    await sink.write([make_event(), make_event(tenant="globex"), make_event()])
    await sink.write([make_event()])

    acme = [AuditRecord.model_validate(line) for line in lines(sink.path_for("acme"))]
    assert [r.seq for r in acme] == [1, 2, 3]
    assert acme[0].prev == GENESIS_HASH
    prevs = [GENESIS_HASH, acme[0].hash, acme[1].hash]
    assert all(r.verify(p) for r, p in zip(acme, prevs, strict=True))
    check = read_chain(sink.path_for("globex"))
    assert check.ok
    assert [r.seq for r in check.records] == [1]


async def test_an_altered_line_breaks_the_chain(sink: JsonlAuditSink) -> None:
    await sink.write([make_event(data={"verdict": "deny"}), make_event(), make_event()])
    path = sink.path_for("acme")
    path.write_text(path.read_text().replace('"deny"', '"approve"', 1))

    check = read_chain(path)
    assert not check.ok
    assert check.broken_at == 1
    assert "chain" in (check.problem or "")


async def test_a_removed_line_breaks_the_chain(sink: JsonlAuditSink) -> None:
    await sink.write([make_event(), make_event(), make_event()])
    path = sink.path_for("acme")
    kept = path.read_text().splitlines(keepends=True)
    path.write_text(kept[0] + kept[2])

    check = read_chain(path)
    assert check.broken_at == 2
    assert [r.seq for r in check.records] == [1]


async def test_a_new_sink_continues_the_chain_in_the_file(tmp_path: Path) -> None:
    await JsonlAuditSink(tmp_path / "audit").write([make_event(), make_event()])
    await JsonlAuditSink(tmp_path / "audit").write([make_event()])

    check = read_chain(tmp_path / "audit" / "acme.jsonl")
    assert check.ok
    assert [r.seq for r in check.records] == [1, 2, 3]


async def test_a_line_left_unfinished_by_a_crash_is_cut_off(sink: JsonlAuditSink) -> None:
    await sink.write([make_event()])
    path = sink.path_for("acme")
    with path.open("ab") as handle:  # a writer died between write and fsync
        handle.write(b'{"seq": 2, "prev": "abc')

    await JsonlAuditSink(sink.directory).write([make_event()])

    check = read_chain(path)
    assert check.ok
    assert [r.seq for r in check.records] == [1, 2]


async def test_a_foreign_last_line_is_refused_not_chained_over(sink: JsonlAuditSink) -> None:
    sink.directory.mkdir()
    sink.path_for("acme").write_text('{"not": "a record"}\n')

    with pytest.raises(ValueError, match="not an audit record"):
        await sink.write([make_event()])
    assert sink.path_for("acme").read_text() == '{"not": "a record"}\n'


async def test_fsync_happens_before_write_returns(
    sink: JsonlAuditSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fsync = os.fsync
    entered, release = threading.Event(), threading.Event()
    synced: list[str] = []

    def slow_fsync(fd: int) -> None:
        entered.set()
        assert release.wait(5)
        real_fsync(fd)
        synced.append(os.readlink(f"/proc/self/fd/{fd}") if HAS_PROC else str(fd))

    monkeypatch.setattr(os, "fsync", slow_fsync)
    writing = asyncio.create_task(sink.write([make_event()]))
    assert await asyncio.to_thread(entered.wait, 5)
    await asyncio.sleep(0.05)
    # The line is written but not yet synced: write() has not returned, so nothing commits.
    assert not writing.done()
    assert len(lines(sink.path_for("acme"))) == 1
    release.set()
    await writing
    assert synced  # the file (and, for a new file, its directory) were synced
    if HAS_PROC:
        assert synced[0] == str(sink.path_for("acme"))


async def test_the_event_loop_keeps_running_during_the_write(
    sink: JsonlAuditSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fsync = os.fsync
    release = threading.Event()

    def blocking_fsync(fd: int) -> None:
        assert release.wait(5)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", blocking_fsync)
    writing = asyncio.create_task(sink.write([make_event()]))
    ticks = 0
    for _ in range(5):
        await asyncio.sleep(0.01)
        ticks += 1
    assert ticks == 5
    assert not writing.done()
    release.set()
    await writing


async def test_a_failing_fsync_fails_the_write(
    sink: JsonlAuditSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="Input/output error"):
        await sink.write([make_event()])


async def test_a_directory_whose_parent_is_missing_fails_loudly(tmp_path: Path) -> None:
    sink = JsonlAuditSink(tmp_path / "no" / "such" / "audit")
    with pytest.raises(FileNotFoundError):
        await sink.write([make_event()])
    assert not (tmp_path / "no").exists()


async def test_a_directory_that_is_a_file_fails_loudly(tmp_path: Path) -> None:
    (tmp_path / "audit").write_text("not a directory")
    with pytest.raises(NotADirectoryError):
        await JsonlAuditSink(tmp_path / "audit").write([make_event()])


async def test_a_tenant_that_fails_does_not_stop_the_others(sink: JsonlAuditSink) -> None:
    sink.directory.mkdir()
    sink.path_for("globex").mkdir()  # globex's file cannot be opened for writing

    with pytest.raises(IsADirectoryError):
        await sink.write([make_event(), make_event(tenant="globex")])
    assert len(lines(sink.path_for("acme"))) == 1

    sink.path_for("globex").rmdir()
    await sink.write([make_event(tenant="globex")])
    assert read_chain(sink.path_for("globex")).ok


async def test_concurrent_writes_keep_whole_lines_and_one_chain(tmp_path: Path) -> None:
    # Two sinks on one directory stand for two processes: they meet only in the file.
    first, second = JsonlAuditSink(tmp_path / "audit"), JsonlAuditSink(tmp_path / "audit")
    big = {"text": "x" * 100_000}

    async def burst(sink: JsonlAuditSink, n: int) -> None:
        await sink.write(
            [
                make_event(data={"n": n, "i": i, **(big if i == 0 else {})}, tenant=tenant)
                for tenant in ("acme", "globex")
                for i in range(3)
            ]
        )

    await asyncio.gather(*(burst(first if n % 2 else second, n) for n in range(40)))

    for tenant in ("acme", "globex"):
        check = read_chain(tmp_path / "audit" / f"{tenant}.jsonl")
        assert check.ok, check.problem
        assert [r.seq for r in check.records] == list(range(1, 121))
        # Each call's events stay together and in order.
        data = [r.event.data for r in check.records]
        for start in range(0, 120, 3):
            assert [d["i"] for d in data[start : start + 3]] == [0, 1, 2]
            assert len({d["n"] for d in data[start : start + 3]}) == 1


async def test_an_empty_batch_touches_nothing(sink: JsonlAuditSink) -> None:
    await sink.write([])
    assert not sink.directory.exists()


class TestJsonlConformance(SinkConformance):
    @pytest.fixture
    def sink(self, tmp_path: Path) -> JsonlAuditSink:
        return JsonlAuditSink(tmp_path / "audit")

    @pytest.fixture
    def stored(self, sink: JsonlAuditSink) -> Any:
        def read() -> list[AuditEvent]:
            events: list[AuditEvent] = []
            for tenant in ("acme", "globex"):
                check = read_chain(sink.path_for(tenant))
                assert check.ok, check.problem
                events += [r.event for r in check.records]
            return events

        return read


def test_the_directory_comes_from_settings_then_env_then_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)
    assert audit_dir(PluginContext()) == tmp_path / DEFAULT_DIR
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "from-env"))
    assert audit_dir(PluginContext()) == tmp_path / "from-env"
    context = PluginContext(settings={"audit_dir": str(tmp_path / "from-settings")})
    assert audit_dir(context) == tmp_path / "from-settings"


def test_the_plugin_registers_the_jsonl_sink(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "trail"))
    registry = installed_registry()
    assert "jsonl" in registry.sinks
    sink = build_sink("jsonl")
    assert isinstance(sink, JsonlAuditSink)
    assert sink.directory == tmp_path / "trail"
    (info,) = [p for p in registry.plugins if "jsonl" in p.registers.get("sinks", [])]
    assert info.name == "jsonl_audit"
    assert not info.builtin


# --- start-up check, with a swarm --------------------------------------------------------

SKILL = """\
name: answer
prompt: "Answer: {{ question }}"
input_schema: {type: object, required: [question], properties: {question: {type: string}}}
output_schema: {type: object, required: [answer], properties: {answer: {type: string}}}
mock: {output: {answer: "4"}, confidence: 0.95}
"""

SWARM = """\
version: 1
skills: [answer.yaml]
tenants:
  acme: {skills: [answer]}
audit:
  sinks: [log, jsonl]
jobs:
  - {tenant: acme, skill: answer, input: {question: "2 + 2?"}}
"""


def write_swarm(tmp_path: Path) -> Path:
    (tmp_path / "answer.yaml").write_text(SKILL)
    (tmp_path / "swarm.yaml").write_text(SWARM)
    return tmp_path / "swarm.yaml"


@pytest.mark.parametrize(
    ("where", "problem"),
    [
        ("missing/audit", "audit cannot be created: {tmp}/missing does not exist"),
        ("a-file", "audit directory {tmp}/a-file is not a directory"),
    ],
)
def test_an_unusable_directory_stops_the_command_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, problem: str
) -> None:
    path = write_swarm(tmp_path)
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv(ENV_VAR, str(tmp_path / where))
    result = run_cli("run", str(path), "--json")
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"{path}:6:16: ")  # the `jsonl` entry of audit.sinks
    assert problem.format(tmp=tmp_path) in line
    assert line.endswith(f"; set {ENV_VAR} to a writable directory")


def test_chimera_run_writes_a_verifiable_trail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_swarm(tmp_path)
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "trail"))
    result = run_cli("run", str(path), "--json")
    assert result.exit_code == 0, result.stderr
    check = read_chain(tmp_path / "trail" / "acme.jsonl")
    assert check.ok, check.problem
    kinds = [r.event.type for r in check.records]
    assert kinds.index(AuditEventType.DECISION) < kinds.index(AuditEventType.COMMITTED)
