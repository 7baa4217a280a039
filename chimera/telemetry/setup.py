"""Switching tracing on for a chimera process: the OpenTelemetry SDK and its exporter.

What decides, most specific first: the command's ``--trace/--no-trace`` flag, then the
swarm's ``telemetry.tracing.enabled``; ``OTEL_SDK_DISABLED=true`` turns it off whatever
they say. Where spans go is the standard ``OTEL_*`` variables' business:
``OTEL_TRACES_EXPORTER`` (``otlp``, the default, ``console`` or ``none``),
``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``_TRACES_ENDPOINT``, ``_HEADERS``, ``_TIMEOUT``,
``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES`` and the batch processor's
``OTEL_BSP_*``. Sampling is the swarm's ``sample_ratio`` (parent-based: a task's
sampling is decided once, where its trace starts) unless ``OTEL_TRACES_SAMPLER`` names
another sampler.

The SDK is the ``chimera-swarm[otel]`` extra; it is imported only here and only when
tracing is on, so a process without it pays nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chimera.models.config import TracingConfig
from chimera.telemetry.tracing import activate, chimera_version, deactivate

#: The service name spans carry unless OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES say.
DEFAULT_SERVICE_NAME = "chimera"
#: The OTLP transport chimera ships (the extra's exporter).
HTTP_PROTOBUF = "http/protobuf"


class TracingUnavailable(Exception):
    """Tracing was asked for but cannot run (the SDK extra is missing, a setting is wrong)."""


@dataclass
class TracingSession:
    """Tracing switched on for this process; :meth:`close` flushes and switches it off."""

    provider: Any

    def close(self) -> None:
        """Export the spans still buffered, then stop (call once, on the way out)."""
        deactivate()
        self.provider.shutdown()


def tracing_wanted(
    config: TracingConfig, flag: bool | None, env: Mapping[str, str] | None = None
) -> bool:
    """Whether this process traces: the flag, else the swarm file; never if the SDK is off."""
    environ = os.environ if env is None else env
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return config.enabled if flag is None else flag


def start_tracing(
    config: TracingConfig,
    flag: bool | None = None,
    env: Mapping[str, str] | None = None,
) -> TracingSession | None:
    """Configure the SDK and activate tracing, if wanted; ``None`` when it stays off.

    Args:
        config: the swarm's ``telemetry.tracing`` block.
        flag: ``--trace`` (True), ``--no-trace`` (False) or neither (None).
        env: the environment (tests pass their own).

    Raises:
        TracingUnavailable: the ``otel`` extra is not installed or an ``OTEL_*`` value
            names something chimera cannot export to.
    """
    environ = dict(os.environ if env is None else env)
    if not tracing_wanted(config, flag, environ):
        return None
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
    except ImportError:
        raise TracingUnavailable(
            "tracing needs the OpenTelemetry SDK: pip install 'chimera-swarm[otel]'"
        ) from None
    exporters = [_exporter(name, environ) for name in _exporter_names(environ)]
    resource = Resource.create({"service.version": chimera_version()})
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": DEFAULT_SERVICE_NAME}))
    # OTEL_TRACES_SAMPLER, when set, is read by the provider itself (sampler=None).
    sampler = (
        None
        if environ.get("OTEL_TRACES_SAMPLER")
        else ParentBased(TraceIdRatioBased(config.sample_ratio))
    )
    provider = TracerProvider(sampler=sampler, resource=resource)
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    activate(provider, capture_content=config.capture_content)
    return TracingSession(provider)


def _exporter_names(env: Mapping[str, str]) -> list[str]:
    raw = env.get("OTEL_TRACES_EXPORTER", "otlp")
    names = [n.strip().lower() for n in raw.split(",") if n.strip()]
    return [n for n in names if n != "none"]


def _exporter(name: str, env: Mapping[str, str]) -> Any:
    if name == "console":
        import sys

        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        # Standard error: standard output carries results (`--json`).
        return ConsoleSpanExporter(out=sys.stderr)
    if name != "otlp":
        raise TracingUnavailable(
            f"OTEL_TRACES_EXPORTER={name!r}: chimera exports to 'otlp', 'console' or 'none'"
        )
    protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", HTTP_PROTOBUF
    )
    if protocol != HTTP_PROTOBUF:
        raise TracingUnavailable(
            f"OTLP protocol {protocol!r} is not supported: chimera exports OTLP over "
            f"{HTTP_PROTOBUF} (set OTEL_EXPORTER_OTLP_PROTOCOL={HTTP_PROTOBUF}; a collector "
            "listens for it on port 4318)"
        )
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        raise TracingUnavailable(
            "tracing needs the OTLP exporter: pip install 'chimera-swarm[otel]'"
        ) from None
    return OTLPSpanExporter()
