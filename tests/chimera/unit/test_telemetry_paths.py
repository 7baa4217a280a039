"""The less travelled paths of the telemetry: failures, dropped traces, checks and views."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import yaml
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from chimera.cli.status_watch import watch_status
from chimera.config.errors import ConfigError
from chimera.config.loader import load_swarm
from chimera.lib.keys import Keyspace
from chimera.lib.redis_presence import RedisPresenceStore
from chimera.models.config import ModelPrice, TracingConfig
from chimera.models.decision import Decision, Verdict
from chimera.models.llm import ToolCall
from chimera.models.types import utc_now
from chimera.ports.judge import CommitOutcome, Judged
from chimera.ports.queue import Delivery, StreamStats, TenantStats
from chimera.ports.tools import ToolResult
from chimera.services.faults import Fault
from chimera.services.judge_observe import count_judged
from chimera.services.queue_gauges import QueueGauges
from chimera.services.usage import MetricsTee, Tokens, UsageTally, cost_of
from chimera.telemetry import judge_spans, spans, tracing
from chimera.telemetry.prometheus import PrometheusMetrics
from chimera.telemetry.setup import start_tracing
from chimera.testing import binding, make_request, make_result, make_task
from tests.chimera.helpers import ECHO_SKILL, write_swarm
from tests.chimera.tracing import content_spans, named, one
from tests.chimera.tracing import spans as recorded

__all__ = ["content_spans", "recorded"]

UNSAMPLED = "00-" + "a" * 32 + "-" + "b" * 16 + "-00"
SAMPLED = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"


# -- spans ---------------------------------------------------------------------------------


def test_a_dropped_trace_makes_no_spans_downstream(recorded: InMemorySpanExporter) -> None:
    task = make_task()
    delivery: Delivery[Any] = Delivery("acme", "1-0", task, traceparent=UNSAMPLED)
    with spans.process_task(delivery, "w1") as span:
        assert span is None
        assert spans.chat(make_request(skill=task.skill), "mock") is spans.NO_SPAN
    results = [Delivery("acme", "2-0", make_result(task), traceparent=UNSAMPLED)]
    assert judge_spans.judging(results, "j1") is judge_spans.NO_JUDGE_SPANS
    assert recorded.get_finished_spans() == ()


async def test_a_failing_enqueue_marks_every_send_span(recorded: InMemorySpanExporter) -> None:
    def enqueue() -> None:
        with spans.Sending([make_task(), make_task()]) as sending:
            assert sending.traceparents is not None
            raise ConnectionError("redis went away")

    with pytest.raises(ConnectionError, match="redis went away"):
        enqueue()
    sent = named(recorded.get_finished_spans(), "send tasks")
    assert len(sent) == 2
    assert {s.status.status_code for s in sent} == {StatusCode.ERROR}
    assert {s.attributes["error.type"] for s in sent if s.attributes} == {"ConnectionError"}


async def test_an_exception_in_an_attempt_marks_its_span(recorded: InMemorySpanExporter) -> None:
    delivery: Delivery[Any] = Delivery("acme", "1-0", make_task(), traceparent=SAMPLED)
    with pytest.raises(RuntimeError), spans.process_task(delivery, "w1"):
        raise RuntimeError("bug")
    span = one(recorded.get_finished_spans(), "process tasks")
    assert span.status.status_code is StatusCode.ERROR
    assert [e.name for e in span.events] == ["exception"]


async def test_a_judge_batch_that_fails_to_apply_marks_its_spans(
    recorded: InMemorySpanExporter,
) -> None:
    task = make_task()
    results = [
        Delivery("acme", "1-0", make_result(task), traceparent=SAMPLED),
        Delivery("acme", "2-0", make_result(task), traceparent=UNSAMPLED),
        Delivery("acme", "3-0", None),
    ]

    async def failing() -> list[CommitOutcome]:
        raise OSError("disk full")

    async def judge() -> None:
        with judge_spans.judging(results, "j1") as traced:
            assert await traced.decide(1, asyncio.sleep(0, result="x")) == "x"
            await traced.commit(failing())

    with pytest.raises(OSError, match="disk full"):
        await judge()
    finished = recorded.get_finished_spans()
    assert len(named(finished, "process results")) == 2  # the dropped trace made none
    commits = named(finished, "commit")
    assert len(commits) == 2
    assert {s.status.status_code for s in finished} == {StatusCode.ERROR}
    assert {s.attributes["error.type"] for s in finished if s.attributes} == {"OSError"}


def test_an_undecodable_result_is_a_failed_span(recorded: InMemorySpanExporter) -> None:
    with judge_spans.judging([Delivery("acme", "1-0", None)], "j1"):
        pass
    span = one(recorded.get_finished_spans(), "process results")
    assert span.attributes is not None
    assert span.attributes["error.type"] == "undecodable"


def test_captured_content_includes_tool_io_and_the_judges_reason(
    content_spans: InMemorySpanExporter,
) -> None:
    call = ToolCall(id="c1", name="lookup", arguments={"order": "A-1"})
    with spans.tool(call, binding("desk", "lookup")) as span:
        spans.tool_done(span, ToolResult("shipped"))
    task = make_task()
    result = make_result(task, confidence=0.1)
    decision = Decision.on(result, Verdict.DENY, "too unsure", "threshold")
    with judge_spans.judging([Delivery("acme", "1-0", result, traceparent=SAMPLED)], "j") as t:
        t.decided([Judged(Delivery("acme", "1-0", result), decision, task)])
    finished = content_spans.get_finished_spans()
    tool = one(finished, "execute_tool lookup")
    assert tool.attributes is not None
    assert json.loads(str(tool.attributes["gen_ai.tool.call.arguments"])) == {"order": "A-1"}
    assert tool.attributes["gen_ai.tool.call.result"] == "shipped"
    judged = one(finished, "process results")
    assert judged.attributes is not None
    assert judged.attributes["chimera.judge.reason"] == "too unsure"


def test_the_otlp_exporter_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    session = start_tracing(TracingConfig(enabled=True))
    assert session is not None
    try:
        processors = session.provider._active_span_processor._span_processors
        assert [type(p.span_exporter) for p in processors] == [OTLPSpanExporter]
    finally:
        tracing.deactivate()
        session.provider.shutdown()


# -- metrics -------------------------------------------------------------------------------


def test_judge_counts_verdicts_ends_and_retries() -> None:
    metrics = PrometheusMetrics()
    task = make_task()
    result = make_result(task)
    deny = Decision.on(result, Verdict.DENY, "weak", "threshold", retry=True)
    delivery = Delivery("acme", "1-0", result)
    count_judged(metrics, Judged(delivery, None, None), CommitOutcome.REJECTED, 0.0)
    count_judged(metrics, Judged(delivery, deny, None), CommitOutcome.REJECTED, 0.0)
    count_judged(metrics, Judged(delivery, deny, task), CommitOutcome.RETRIED, 0.0)
    count_judged(metrics, Judged(delivery, deny, task), CommitOutcome.DUPLICATE, 0.0)
    value = metrics.registry.get_sample_value
    verdict = {**labels(task), "verdict": "deny", "policy": "threshold"}
    assert value("chimera_judge_verdicts_total", verdict) == 3
    assert value("chimera_retries_total", {**labels(task), "by": "judge"}) == 1
    assert value("chimera_tasks_total", {**labels(task), "outcome": "denied"}) is None


def labels(task: Any) -> dict[str, str]:
    return {"tenant": task.tenant, "skill": task.skill}


class Refusing:
    def __init__(self, error: Exception) -> None:
        self.error = error

    async def stats(self, tenant: str) -> TenantStats:
        if tenant == "acme":
            raise self.error
        return TenantStats(tenant, StreamStats(1, 0, 1, 0), StreamStats(0, 0, 1, 0), 0, 0, 0, 0)


@pytest.mark.parametrize(
    ("error", "readable"), [(PermissionError("NOPERM"), 0.0), (TimeoutError("slow"), None)]
)
async def test_queue_gauges_tell_refusals_from_failures(
    error: Exception, readable: float | None
) -> None:
    metrics = PrometheusMetrics()

    def classify(exc: BaseException) -> Fault:
        return Fault.PERMANENT if isinstance(exc, PermissionError) else Fault.TRANSIENT

    gauges = QueueGauges(
        Refusing(error), metrics, ["acme", "globex"], every_s=0.01, classify=classify
    )
    stop = asyncio.Event()
    running = asyncio.create_task(gauges.run(stop))
    await asyncio.sleep(0.03)
    stop.set()
    await running
    value = metrics.registry.get_sample_value
    assert value("chimera_queue_stats_readable", {"tenant": "acme"}) == readable
    assert value("chimera_queue_stats_readable", {"tenant": "globex"}) == 1


def test_a_tee_forwards_everything_and_the_tally_adds_tokens() -> None:
    prometheus, tally = PrometheusMetrics(), UsageTally()
    tee = MetricsTee([prometheus, tally])
    assert tee.enabled
    tee.llm_call("acme", "s", "mock", "m", 0.1, 10, 2, None)
    tee.llm_call("acme", "s", "mock", "m", 0.1, 5, 1, "timeout")
    tee.task_settled("acme", "s", "committed", 1.0)
    tee.tool_call("desk", "lookup", "ok", 0.01)
    tee.verdict("acme", "s", "approve", "threshold")
    tee.retried("acme", "s", "worker")
    tee.track_in_flight(lambda: 3)
    tee.queue_stats(
        TenantStats("acme", StreamStats(1, 0, 1, 0), StreamStats(0, 0, 1, 0), 0, 2, 0, 0)
    )
    tee.queue_unreadable("globex")
    assert tally.tokens == {("acme", "s", "m"): Tokens(15, 3)}
    value = prometheus.registry.get_sample_value
    assert value("chimera_review_backlog", {"tenant": "acme"}) == 2
    assert value("chimera_tasks_in_flight") == 3
    assert cost_of(tally.tokens, {"m": ModelPrice(input=1.0, output=2.0)}) == pytest.approx(21e-6)
    assert cost_of(tally.tokens, {}) is None
    assert cost_of({("a", "s", "free"): Tokens()}, {}) == 0.0


# -- pricing, status view ------------------------------------------------------------------


def test_a_misspelt_priced_model_is_a_load_error_with_its_place(tmp_path: Path) -> None:
    skill = {**ECHO_SKILL, "model": "gpt-4o-mini"}
    swarm = write_swarm(tmp_path, skills=[skill])
    path = swarm.path
    config = yaml.safe_load(path.read_text())
    config["pricing"] = {"models": {"gpt-4o-mni": {"input": 0.15, "output": 0.6}}}
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError) as caught:
        load_swarm(path)
    [problem] = caught.value.problems
    assert problem.message == (
        "no skill names model 'gpt-4o-mni'; did you mean 'gpt-4o-mini'? (skills name: gpt-4o-mini)"
    )
    assert problem.line > 1


async def test_watch_redraws_until_stopped(capsys: pytest.CaptureFixture[str]) -> None:
    stop = asyncio.Event()
    shots = 0

    async def snapshot() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        nonlocal shots
        shots += 1
        if shots == 3:
            stop.set()
        row = {"tenant": "acme", "access": "ok", "workers": shots}
        return [row], []

    await watch_status(snapshot, 0.01, as_json=False, stop=stop)
    assert shots == 3
    assert "Tenants" in capsys.readouterr().out


async def test_presence_of_a_real_redis_round_trips(
    redis_client: aioredis.Redis, keyspace: Keyspace
) -> None:
    store = RedisPresenceStore(redis_client, keyspace)
    await store.beat([])
    await store.forget("nobody", [])
    assert await store.live("acme", utc_now()) == []
