"""Switching tracing on: the flag, the swarm file, OTEL_* variables, and one-line errors."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.sampling import ParentBased

from chimera.cli.errors import InputError
from chimera.cli.observability import Observing
from chimera.lib.logging import configure_logging, debug_enabled
from chimera.models.config import TracingConfig
from chimera.services.planner import Submission
from chimera.telemetry import tracing
from chimera.telemetry.setup import TracingUnavailable, start_tracing, tracing_wanted
from tests.chimera.helpers import FakeBackend, Running, eventually, write_swarm
from tests.chimera.stack import Stack

REPO = Path(__file__).resolve().parents[3]
CLASSIFY = {"subject": "Seats", "body": "How do we add seats?"}
ON = TracingConfig(enabled=True)
OFF = TracingConfig()


@pytest.mark.parametrize(
    ("config", "flag", "env", "wanted"),
    [
        (OFF, None, {}, False),  # off by default
        (ON, None, {}, True),  # the swarm file asks
        (OFF, True, {}, True),  # --trace
        (ON, False, {}, False),  # --no-trace wins over the file
        (ON, True, {"OTEL_SDK_DISABLED": "true"}, False),  # the standard kill switch
    ],
)
def test_who_decides_whether_to_trace(
    config: TracingConfig, flag: bool | None, env: dict[str, str], wanted: bool
) -> None:
    assert tracing_wanted(config, flag, env) is wanted


def test_off_means_no_sdk_and_no_tracer() -> None:
    assert start_tracing(OFF, None, env={}) is None
    assert not tracing.active()


def test_the_sample_ratio_is_parent_based_unless_otel_names_a_sampler(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    session = start_tracing(
        TracingConfig(enabled=True, sample_ratio=0.25), env={"OTEL_TRACES_EXPORTER": "none"}
    )
    assert session is not None
    try:
        assert tracing.active()
        sampler = session.provider.sampler
        assert isinstance(sampler, ParentBased)
        assert "0.25" in sampler.get_description()
        assert session.provider.resource.attributes["service.name"] == "chimera"
    finally:
        session.close()
    assert not tracing.active()
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    session = start_tracing(ON)
    assert session is not None
    try:
        assert session.provider.sampler.get_description() == "AlwaysOffSampler"
    finally:
        session.close()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OTEL_TRACES_EXPORTER": "jaeger"}, "chimera exports to 'otlp', 'console' or 'none'"),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "OTLP protocol 'grpc' is not supported"),
    ],
)
def test_settings_chimera_cannot_export_to_are_one_line(env: dict[str, str], message: str) -> None:
    with pytest.raises(TracingUnavailable, match=message):
        start_tracing(ON, env=env)
    assert not tracing.active()


def test_the_cli_reports_them_as_input_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin")
    swarm = write_swarm(tmp_path)
    with pytest.raises(InputError, match="OTEL_TRACES_EXPORTER='zipkin'"), Observing(swarm, True):
        pass


def test_run_with_console_export_prints_spans_on_stderr_and_json_on_stdout(
    tmp_path: Path,
) -> None:
    rows = tmp_path / "in.jsonl"
    rows.write_text(json.dumps({"tenant": "acme", "skill": "classify", "input": CLASSIFY}) + "\n")
    args = ["run", str(REPO / "swarm.yaml"), "--no-jobs", "--input", str(rows), "--trace", "--json"]
    env = {**os.environ, "OTEL_TRACES_EXPORTER": "console", "OTEL_SERVICE_NAME": "desk"}
    done = subprocess.run(
        [sys.executable, "-m", "chimera", *args], capture_output=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    [task] = summary["tasks"]
    spans = [json.loads(chunk) for chunk in _json_objects(done.stderr.decode())]
    names = {s["name"] for s in spans if s.get("context", {}).get("trace_id")}
    assert {"send tasks", "process tasks", "chat mock-1"} <= names
    traces = {s["context"]["trace_id"] for s in spans if s["name"] == "send tasks"}
    assert traces == {"0x" + _trace_of(spans, task["task_id"])}
    assert {s["resource"]["attributes"]["service.name"] for s in spans} == {"desk"}


def _json_objects(text: str) -> list[str]:
    """The top-level JSON objects the console exporter printed (one per span)."""
    objects, depth, start = [], 0, 0
    for index, char in enumerate(text):
        if char == "{":
            depth, start = depth + 1, index if depth == 0 else start
        elif char == "}":
            depth -= 1
            if depth == 0:
                objects.append(text[start : index + 1])
    return [o for o in objects if '"span_id"' in o]


def _trace_of(spans: list[dict[str, object]], task_id: str) -> str:
    for span in spans:
        attributes = span.get("attributes")
        if isinstance(attributes, dict) and attributes.get("chimera.task.id") == task_id:
            context = span["context"]
            assert isinstance(context, dict)
            return str(context["trace_id"])[2:]
    raise AssertionError(f"no span names task {task_id}")


async def test_debug_lines_tell_a_tasks_rendering_call_and_timings(
    tmp_path: Path, fake_redis: object, keyspace: object
) -> None:
    stream = io.StringIO()
    configure_logging("DEBUG", json=True, stream=stream)
    try:
        assert debug_enabled()
        stack = Stack(write_swarm(tmp_path), fake_redis, keyspace, {"fake": FakeBackend()})  # type: ignore[arg-type]
        await stack.planner().submit([Submission("acme", "echo", {"text": "hi there"})])
        async with Running(stack.worker()):
            await eventually(lambda: _published(stack))
    finally:
        configure_logging("WARNING", json=True, stream=io.StringIO())
    assert not debug_enabled()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    events = {line["event"]: line for line in lines}
    rendered = events["task.rendered"]
    assert rendered["prompt"] == "Echo hi there"
    assert rendered["tenant"] == "acme"
    call = events["llm.call"]
    assert (call["provider"], call["skill"], call["step"]) == ("fake", "echo", 1)
    assert call["duration_ms"] >= 0
    done = events["task.attempt_done"]
    assert done["settlement"] == "publish"
    assert done["run_ms"] >= call["duration_ms"]
    assert done["task_id"] == rendered["task_id"]


async def _published(stack: Stack) -> bool:
    return bool(await stack.client.xlen(stack.keys().results))
