"""Prometheus metrics: the :class:`~chimera.ports.metrics.Metrics` port on prometheus_client.

Each process serves its own registry on one port (``--metrics-port``); Prometheus scrapes
every worker and sums across them. Queue figures (lag, pending, backlogs) are per tenant
and read from Redis by every process that serves metrics: take ``max by (tenant)`` of
them, not the sum.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from chimera.ports.queue import TenantStats
from chimera.telemetry import names

#: Seconds from a task's creation to its end: interactive tasks to long agent runs.
TASK_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900)
#: Seconds of one LLM call.
LLM_BUCKETS = (0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120)
#: Seconds of one tool call.
TOOL_BUCKETS = (0.001, 0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class PrometheusMetrics:
    """Counts, histograms and gauges of one process, in a registry of its own.

    Args:
        registry: where the metrics live (a fresh one by default, so several instances,
            as in tests, never clash).
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self._tasks = Counter(
            names.METRIC_TASKS, "Tasks that ended, by outcome.",
            ["tenant", "skill", "outcome"], registry=r,
        )  # fmt: skip
        self._task_seconds = Histogram(
            names.METRIC_TASK_SECONDS, "Seconds from a task's creation to its end.",
            ["tenant", "skill", "outcome"], buckets=TASK_BUCKETS, registry=r,
        )  # fmt: skip
        self._llm_calls = Counter(
            names.METRIC_LLM_CALLS, "LLM backend calls, by outcome (ok or the error kind).",
            ["tenant", "skill", "provider", "model", "outcome"], registry=r,
        )  # fmt: skip
        self._llm_seconds = Histogram(
            names.METRIC_LLM_SECONDS, "Seconds of one LLM backend call.",
            ["provider", "model"], buckets=LLM_BUCKETS, registry=r,
        )  # fmt: skip
        self._tokens = Counter(
            names.METRIC_TOKENS, "Tokens the backends reported, by type (input or output).",
            ["tenant", "skill", "model", "type"], registry=r,
        )  # fmt: skip
        self._tool_calls = Counter(
            names.METRIC_TOOL_CALLS, "Tool calls, by outcome (ok, error, unavailable).",
            ["server", "tool", "outcome"], registry=r,
        )  # fmt: skip
        self._tool_seconds = Histogram(
            names.METRIC_TOOL_SECONDS, "Seconds of one tool call.",
            ["server", "tool"], buckets=TOOL_BUCKETS, registry=r,
        )  # fmt: skip
        self._verdicts = Counter(
            names.METRIC_VERDICTS, "The Judge's verdicts.",
            ["tenant", "skill", "verdict", "policy"], registry=r,
        )  # fmt: skip
        self._retries = Counter(
            names.METRIC_RETRIES, "Attempts scheduled again, by who asked (worker or judge).",
            ["tenant", "skill", "by"], registry=r,
        )  # fmt: skip
        self._in_flight = Gauge(
            names.METRIC_IN_FLIGHT, "Tasks this process is running now.", registry=r
        )
        per_stream = ["tenant", "stream"]
        self._lag = Gauge(
            names.METRIC_STREAM_LAG, "Entries not yet delivered to the stream's group.",
            per_stream, registry=r,
        )  # fmt: skip
        self._pending = Gauge(
            names.METRIC_STREAM_PENDING, "Entries delivered but not yet acknowledged.",
            per_stream, registry=r,
        )  # fmt: skip
        self._length = Gauge(
            names.METRIC_STREAM_LENGTH, "Entries in the stream.", per_stream, registry=r
        )
        self._review = Gauge(
            names.METRIC_REVIEW_BACKLOG, "Results waiting for a human.", ["tenant"], registry=r
        )
        self._dlq = Gauge(
            names.METRIC_DLQ_BACKLOG, "Entries in the dead-letter stream.", ["tenant"], registry=r
        )
        self._delayed = Gauge(
            names.METRIC_DELAYED, "Tasks waiting for their retry time.", ["tenant"], registry=r
        )
        self._readable = Gauge(
            names.METRIC_QUEUE_READABLE,
            "1 when the tenant's queue figures could be read, 0 when Redis refused.",
            ["tenant"], registry=r,
        )  # fmt: skip
        self._throttled = Gauge(
            names.METRIC_THROTTLED,
            "1 while the quota (rate or in_flight) holds the tenant's waiting tasks back.",
            ["tenant", "limit"], registry=r,
        )  # fmt: skip
        self._tokens_today = Gauge(
            names.METRIC_TOKENS_TODAY, "LLM tokens of the tenant's Results this UTC day.",
            ["tenant"], registry=r,
        )  # fmt: skip
        self._throttles = Counter(
            names.METRIC_QUOTA_THROTTLES,
            "Times this process saw a quota begin to hold a tenant back.",
            ["tenant", "limit"], registry=r,
        )  # fmt: skip

    @property
    def enabled(self) -> bool:
        """Always True."""
        return True

    def task_settled(self, tenant: str, skill: str, outcome: str, seconds: float) -> None:
        """Count the task and time it."""
        self._tasks.labels(tenant, skill, outcome).inc()
        self._task_seconds.labels(tenant, skill, outcome).observe(max(seconds, 0.0))

    def llm_call(
        self,
        tenant: str,
        skill: str,
        provider: str,
        model: str,
        seconds: float,
        input_tokens: int,
        output_tokens: int,
        error_type: str | None,
    ) -> None:
        """Count the call, time it and add its tokens."""
        self._llm_calls.labels(tenant, skill, provider, model, error_type or "ok").inc()
        self._llm_seconds.labels(provider, model).observe(seconds)
        if input_tokens:
            self._tokens.labels(tenant, skill, model, "input").inc(input_tokens)
        if output_tokens:
            self._tokens.labels(tenant, skill, model, "output").inc(output_tokens)

    def tool_call(self, server: str, tool: str, outcome: str, seconds: float) -> None:
        """Count the call and time it."""
        self._tool_calls.labels(server, tool, outcome).inc()
        self._tool_seconds.labels(server, tool).observe(seconds)

    def verdict(self, tenant: str, skill: str, verdict: str, policy: str) -> None:
        """Count the verdict."""
        self._verdicts.labels(tenant, skill, verdict, policy).inc()

    def retried(self, tenant: str, skill: str, by: str) -> None:
        """Count the retry."""
        self._retries.labels(tenant, skill, by).inc()

    def track_in_flight(self, count: Callable[[], int]) -> None:
        """Read ``count()`` whenever the registry is collected."""
        self._in_flight.set_function(lambda: float(count()))

    def queue_stats(self, stats: TenantStats) -> None:
        """Set the tenant's queue gauges."""
        tenant = stats.tenant
        for stream, figures in (("tasks", stats.tasks), ("results", stats.results)):
            self._length.labels(tenant, stream).set(figures.length)
            self._pending.labels(tenant, stream).set(figures.pending)
            if figures.lag is not None:
                self._lag.labels(tenant, stream).set(figures.lag)
        self._review.labels(tenant).set(stats.review)
        self._dlq.labels(tenant).set(stats.dead_lettered)
        self._delayed.labels(tenant).set(stats.delayed)
        for limit in QUOTA_LIMITS:
            self._throttled.labels(tenant, limit).set(1 if stats.throttled == limit else 0)
        self._tokens_today.labels(tenant).set(stats.tokens_today)
        self._readable.labels(tenant).set(1)

    def quota_throttled(self, tenant: str, limit: str) -> None:
        """Count a quota beginning to hold the tenant back."""
        self._throttles.labels(tenant, limit).inc()

    def queue_unreadable(self, tenant: str) -> None:
        """Mark the tenant unreadable and drop its stale figures (unknown is not zero)."""
        self._readable.labels(tenant).set(0)
        for gauge in (self._review, self._dlq, self._delayed, self._tokens_today):
            gauge.remove(tenant)  # removing a series never set is a no-op
        for limit in QUOTA_LIMITS:
            self._throttled.remove(tenant, limit)
        for gauge in (self._lag, self._pending, self._length):
            for stream in ("tasks", "results"):
                gauge.remove(tenant, stream)


#: The read quotas a tenant can be held back by (``TenantStats.throttled``).
QUOTA_LIMITS = ("rate", "in_flight")


@dataclass
class MetricsServer:
    """A running ``/metrics`` endpoint; :meth:`close` stops it."""

    host: str
    port: int
    _shutdown: Callable[[], None]

    def close(self) -> None:
        """Stop serving and free the port."""
        self._shutdown()


def serve(metrics: PrometheusMetrics, port: int, host: str = "127.0.0.1") -> MetricsServer:
    """Serve ``metrics`` over HTTP at ``http://host:port/metrics`` on a daemon thread.

    Args:
        metrics: what to serve.
        port: the TCP port; 0 picks a free one (see :attr:`MetricsServer.port`).
        host: the interface; ``0.0.0.0`` lets a Prometheus on another machine scrape it.

    Raises:
        OSError: the port is taken or the address cannot be bound.
    """
    server, thread = start_http_server(port, addr=host, registry=metrics.registry)

    def shutdown() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    bound = server.server_address
    return MetricsServer(host=str(bound[0]), port=int(bound[1]), _shutdown=shutdown)
