"""``--trace`` and ``--metrics-port``: turning tracing and the metrics endpoint on for a command.

Both are off unless asked for. :class:`Observing` starts them once the swarm is loaded
(its ``telemetry:`` block is one of the inputs) and stops them on the way out: the
endpoint closes and buffered spans are exported before the process ends.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

import click
from click.decorators import FC

from chimera.cli.errors import InputError
from chimera.config.swarm import Swarm
from chimera.ports.metrics import NO_METRICS, Metrics
from chimera.telemetry.setup import TracingSession, TracingUnavailable, start_tracing

if TYPE_CHECKING:
    from chimera.telemetry.prometheus import MetricsServer, PrometheusMetrics

trace_option = click.option(
    "--trace/--no-trace",
    "trace",
    default=None,
    envvar="CHIMERA_TRACE",
    help="Export OpenTelemetry traces (OTLP, set by OTEL_* variables; needs "
    "chimera-swarm[otel]). Default: the swarm's telemetry.tracing.enabled. Env: CHIMERA_TRACE.",
)


def metrics_options(func: FC) -> FC:
    """``--metrics-port`` and ``--metrics-host``: serve Prometheus metrics from this process."""
    port = click.option(
        "--metrics-port",
        type=click.IntRange(0, 65535),
        default=None,
        envvar="CHIMERA_METRICS_PORT",
        help="Serve Prometheus metrics at http://HOST:PORT/metrics while this process runs. "
        "Env: CHIMERA_METRICS_PORT.",
    )
    host = click.option(
        "--metrics-host",
        default="127.0.0.1",
        show_default=True,
        envvar="CHIMERA_METRICS_HOST",
        help="Interface of the metrics endpoint (0.0.0.0: every interface). "
        "Env: CHIMERA_METRICS_HOST.",
    )
    return port(host(func))


class Observing:
    """Tracing and the metrics endpoint of one command, as a context manager.

    Args:
        swarm: the loaded swarm (its ``telemetry.tracing`` block).
        trace: ``--trace`` / ``--no-trace`` / neither.
        metrics_port: serve metrics on this port; ``None``: no metrics.
        metrics_host: the interface to bind.

    Raises:
        InputError: tracing was asked for but cannot run, or the port cannot be bound.
    """

    def __init__(
        self,
        swarm: Swarm,
        trace: bool | None,
        metrics_port: int | None = None,
        metrics_host: str = "127.0.0.1",
    ) -> None:
        self.swarm = swarm
        self.trace = trace
        self.metrics_port = metrics_port
        self.metrics_host = metrics_host
        self.prometheus: PrometheusMetrics | None = None
        self.server: MetricsServer | None = None
        self.tracing: TracingSession | None = None

    @property
    def metrics(self) -> Metrics:
        """Prometheus while the endpoint serves, else the do-nothing metrics."""
        return self.prometheus if self.prometheus is not None else NO_METRICS

    def __enter__(self) -> Observing:
        try:
            self.tracing = start_tracing(self.swarm.config.telemetry.tracing, self.trace)
        except TracingUnavailable as exc:
            raise InputError(str(exc)) from None
        if self.metrics_port is not None:
            # prometheus_client is imported only by the processes that serve metrics.
            from chimera.telemetry.prometheus import PrometheusMetrics, serve

            self.prometheus = PrometheusMetrics()
            try:
                self.server = serve(self.prometheus, self.metrics_port, self.metrics_host)
            except OSError as exc:
                self._close_tracing()
                where = f"{self.metrics_host}:{self.metrics_port}"
                raise InputError(f"--metrics-port: cannot listen on {where}: {exc}") from None
        return self

    def __exit__(
        self,
        _kind: type[BaseException] | None,
        _error: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        if self.server is not None:
            self.server.close()
        self._close_tracing()

    def _close_tracing(self) -> None:
        if self.tracing is not None:
            self.tracing.close()
            self.tracing = None

    def describe(self) -> dict[str, Any]:
        """What the start line of a process says about tracing and metrics."""
        where = f"http://{self.server.host}:{self.server.port}/metrics" if self.server else None
        return {"tracing": self.tracing is not None, "metrics": where}


def observing_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--trace/--no-trace``, ``--metrics-port`` and ``--metrics-host``."""
    return trace_option(metrics_options(func))
