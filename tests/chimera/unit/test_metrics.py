"""Prometheus metrics: after a known run, the served values equal the run's summary."""

from __future__ import annotations

import asyncio
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Any

import pluggy
import pytest
import redis.asyncio as aioredis
from prometheus_client.parser import text_string_to_metric_families

from chimera.bootstrap import build_runtime
from chimera.cli.errors import InputError
from chimera.cli.observability import Observing
from chimera.cli.run_process import run_observed
from chimera.models.llm import LLMRequest, LLMResponse
from chimera.models.result import ErrorKind, Usage
from chimera.plugins import hookimpl
from chimera.plugins.manager import get_plugin_manager
from chimera.ports.llm import BackendError
from chimera.ports.metrics import NO_METRICS
from chimera.ports.queue import StreamStats, TenantStats
from chimera.services.planner import Submission
from chimera.telemetry.prometheus import PrometheusMetrics, serve
from tests.chimera.helpers import write_swarm


class MeteredBackend:
    """Echoes, with usage from the prompt's and text's lengths.

    ``flaky…`` texts fail their first call; ``doomed…`` texts fail every call.
    """

    name = "fake"

    def __init__(self) -> None:
        self.seen: set[str] = set()

    async def complete(self, request: LLMRequest) -> LLMResponse:
        text = str(request.input["text"])
        if text.startswith("doomed") or (text.startswith("flaky") and text not in self.seen):
            self.seen.add(text)
            raise BackendError("503 from upstream", ErrorKind.BACKEND)
        confidence = request.input.get("confidence", 0.9)
        assert isinstance(confidence, float)
        usage = Usage(prompt_tokens=len(request.prompt), completion_tokens=len(text))
        return LLMResponse(output={"echo": text}, confidence=confidence, usage=usage)


def plugins(backend: MeteredBackend) -> pluggy.PluginManager:
    class Plugin:
        @hookimpl
        def register_backends(self, register: Any) -> None:
            register("fake", lambda context: backend)

    pm = get_plugin_manager(load_entry_points=False)
    pm.register(Plugin(), name="metered")
    return pm


def scrape(port: int) -> dict[str, list[tuple[dict[str, str], float]]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    samples: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[sample.name].append((sample.labels, sample.value))
    return samples


def by(samples: list[tuple[dict[str, str], float]], *keys: str) -> dict[tuple[str, ...], float]:
    totals: dict[tuple[str, ...], float] = defaultdict(float)
    for labels, value in samples:
        totals[tuple(labels[k] for k in keys)] += value
    return dict(totals)


SUBMISSIONS = [
    Submission(tenant, "echo", {"text": f"{text} ({tenant})", "confidence": confidence})
    for tenant in ("acme", "globex")
    for text, confidence in [
        ("sure", 0.95),
        ("also sure", 0.9),
        ("unsure", 0.6),
        ("wrong", 0.1),
        ("flaky one", 0.92),
        ("doomed", 0.9),
    ]
]


async def test_served_metrics_equal_the_run_summary(
    tmp_path: Path, fake_redis: aioredis.Redis
) -> None:
    swarm = write_swarm(tmp_path, sinks=["log"])
    backend = MeteredBackend()
    runtime = await build_runtime(swarm, None, "m", plugins(backend), client=fake_redis)
    try:
        with Observing(runtime.swarm, trace=False, metrics_port=0) as observing:
            assert observing.server is not None
            report = await run_observed(runtime, observing, SUBMISSIONS, "s1", concurrency=10)
            samples = await asyncio.to_thread(scrape, observing.server.port)
    finally:
        await runtime.close()

    rows = {(r["tenant"], r["skill"]): r for r in report.rows()}
    tasks = by(samples["chimera_tasks_total"], "tenant", "skill", "outcome")
    for (tenant, skill), row in rows.items():
        for outcome in ("committed", "denied", "review", "dead_lettered"):
            assert tasks.get((tenant, skill, outcome), 0) == row[outcome], (tenant, outcome)
    assert sum(tasks.values()) == report.totals()["tasks"] == len(SUBMISSIONS)
    assert report.totals()["dead_lettered"] == 2  # the run did hit every outcome
    durations = by(samples["chimera_task_duration_seconds_count"], "tenant")
    assert durations == {("acme",): 6, ("globex",): 6}

    tokens = by(samples["chimera_llm_tokens_total"], "tenant", "skill", "type")
    for (tenant, skill), row in rows.items():
        assert tokens[(tenant, skill, "input")] == row["input_tokens"] > 0
        assert tokens[(tenant, skill, "output")] == row["output_tokens"] > 0

    retries = by(samples["chimera_retries_total"], "tenant", "skill")
    for (tenant, skill), row in rows.items():
        assert retries[(tenant, skill)] == row["retried"] == 3  # flaky once, doomed twice

    calls = by(samples["chimera_llm_calls_total"], "tenant", "outcome")
    assert calls[("acme", "backend")] == 4  # flaky once, doomed three times
    assert calls[("acme", "ok")] == 5
    verdicts = by(samples["chimera_judge_verdicts_total"], "tenant", "verdict")
    assert verdicts[("acme", "approve")] == rows[("acme", "echo")]["committed"]
    assert samples["chimera_tasks_in_flight"] == [({}, 0.0)]
    readable = by(samples["chimera_queue_stats_readable"], "tenant")
    assert readable == {("acme",): 1, ("globex",): 1}


def test_without_a_port_nothing_is_served_or_counted(tmp_path: Path) -> None:
    swarm = write_swarm(tmp_path, sinks=["log"])
    with Observing(swarm, trace=False) as observing:
        assert observing.metrics is NO_METRICS
        assert observing.describe() == {"tracing": False, "metrics": None}


def test_a_taken_port_is_one_line(tmp_path: Path) -> None:
    metrics = PrometheusMetrics()
    first = serve(metrics, 0)
    try:
        swarm = write_swarm(tmp_path, sinks=["log"])
        with (
            pytest.raises(InputError, match=rf"--metrics-port: cannot listen on .*:{first.port}"),
            Observing(swarm, trace=False, metrics_port=first.port),
        ):
            pass
    finally:
        first.close()


def stats(tenant: str, lag: int | None = 4) -> TenantStats:
    return TenantStats(
        tenant=tenant,
        tasks=StreamStats(length=10, pending=3, consumers=2, lag=lag),
        results=StreamStats(length=1, pending=1, consumers=1, lag=0),
        delayed=2,
        review=5,
        dead_lettered=1,
        committed=7,
    )


def gauge(metrics: PrometheusMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_queue_gauges_show_figures_and_unknown_is_not_zero() -> None:
    metrics = PrometheusMetrics()
    metrics.queue_stats(stats("acme"))
    assert gauge(metrics, "chimera_stream_lag", tenant="acme", stream="tasks") == 4
    assert gauge(metrics, "chimera_stream_pending", tenant="acme", stream="results") == 1
    assert gauge(metrics, "chimera_review_backlog", tenant="acme") == 5
    assert gauge(metrics, "chimera_dead_letter_backlog", tenant="acme") == 1
    assert gauge(metrics, "chimera_delayed_tasks", tenant="acme") == 2
    metrics.queue_unreadable("acme")
    assert gauge(metrics, "chimera_queue_stats_readable", tenant="acme") == 0
    assert gauge(metrics, "chimera_stream_lag", tenant="acme", stream="tasks") is None
    assert gauge(metrics, "chimera_review_backlog", tenant="acme") is None


def test_in_flight_is_read_when_collected() -> None:
    metrics = PrometheusMetrics()
    running = [1, 2]
    metrics.track_in_flight(lambda: len(running))
    assert gauge(metrics, "chimera_tasks_in_flight") == 2
    running.append(3)
    assert gauge(metrics, "chimera_tasks_in_flight") == 3


def test_tool_calls_are_counted_by_server_tool_and_outcome() -> None:
    metrics = PrometheusMetrics()
    metrics.tool_call("desk", "lookup", "ok", 0.01)
    metrics.tool_call("desk", "lookup", "error", 0.02)
    metrics.tool_call("desk", "lookup", "ok", 0.03)
    ok = gauge(metrics, "chimera_tool_calls_total", server="desk", tool="lookup", outcome="ok")
    assert ok == 2
    seconds = gauge(
        metrics, "chimera_tool_call_duration_seconds_count", server="desk", tool="lookup"
    )
    assert seconds == 3


def test_quotas_show_as_gauges_and_a_counter() -> None:
    metrics = PrometheusMetrics()
    held = TenantStats(**{**vars(stats("acme")), "throttled": "rate", "tokens_today": 1234})
    metrics.queue_stats(held)
    assert gauge(metrics, "chimera_tenant_throttled", tenant="acme", limit="rate") == 1
    assert gauge(metrics, "chimera_tenant_throttled", tenant="acme", limit="in_flight") == 0
    assert gauge(metrics, "chimera_tenant_tokens_today", tenant="acme") == 1234
    metrics.queue_stats(stats("acme"))  # released
    assert gauge(metrics, "chimera_tenant_throttled", tenant="acme", limit="rate") == 0
    metrics.quota_throttled("acme", "in_flight")
    metrics.quota_throttled("acme", "in_flight")
    assert gauge(metrics, "chimera_quota_throttles_total", tenant="acme", limit="in_flight") == 2
    metrics.queue_unreadable("acme")
    assert gauge(metrics, "chimera_tenant_throttled", tenant="acme", limit="rate") is None
    assert gauge(metrics, "chimera_tenant_tokens_today", tenant="acme") is None
    NO_METRICS.quota_throttled("acme", "rate")  # the default counts nothing, and says so
