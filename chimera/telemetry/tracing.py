"""The process's tracing switch, and W3C trace context in and out of stream entries.

Tracing is off until :func:`activate` is called (by the CLI when ``--trace`` or the
swarm's ``telemetry.tracing.enabled`` asks for it, or by an application that embeds
chimera with its own OpenTelemetry SDK). While it is off, every span helper in
:mod:`chimera.telemetry.spans` returns a shared no-op object after one attribute check:
no span, no context switch, no string built. That is what keeps the hot path's cost near
zero (see ``benchmarks/tracing_overhead.py``).

Only the OpenTelemetry *API* is imported here; the SDK and its exporters are an extra
(``chimera-swarm[otel]``), configured by :mod:`chimera.telemetry.setup`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, Tracer, TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from chimera.telemetry.names import TRACER_NAME

#: The carrier key of the W3C trace context (also the stream entry field's name).
TRACEPARENT = "traceparent"

_PROPAGATOR = TraceContextTextMapPropagator()
#: A version-00 ``traceparent``: trace id, parent span id, flags (lowercase hex).
_VERSION_00 = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


@dataclass
class TracingState:
    """What the span helpers read: the tracer (``None``: tracing off) and content capture."""

    tracer: Tracer | None = None
    capture_content: bool = False


#: The one switch of this process. Tracer providers are process-wide in OpenTelemetry too.
state = TracingState()


def activate(provider: TracerProvider | None = None, capture_content: bool = False) -> None:
    """Switch tracing on for this process.

    Args:
        provider: where spans go; the global OpenTelemetry provider when omitted (an
            application that configured the SDK itself passes nothing).
        capture_content: record prompts, answers and tool arguments/results on spans.
            Off by default: they may hold personal data.
    """
    source = provider or trace.get_tracer_provider()
    state.tracer = source.get_tracer(TRACER_NAME, chimera_version())
    state.capture_content = capture_content


def deactivate() -> None:
    """Switch tracing off again (spans already started still end normally)."""
    state.tracer = None
    state.capture_content = False


def active() -> bool:
    """Whether spans are being made."""
    return state.tracer is not None


def extract(traceparent: str | None) -> Context | None:
    """The context a ``traceparent`` value continues, or ``None`` for none or a bad value.

    The usual shape (version ``00``, as chimera writes it) is read directly; anything else
    goes through the W3C propagator, which knows the rules for other versions.
    """
    if not traceparent:
        return None
    parent = _parse(traceparent)
    if parent is not None:
        return trace.set_span_in_context(trace.NonRecordingSpan(parent))
    context = _PROPAGATOR.extract({TRACEPARENT: traceparent})
    if not trace.get_current_span(context).get_span_context().is_valid:
        return None
    return context


def _parse(traceparent: str) -> trace.SpanContext | None:
    match = _VERSION_00.fullmatch(traceparent)
    if match is None:
        return None
    trace_id, span_id = int(match.group(1), 16), int(match.group(2), 16)
    if not trace_id or not span_id:
        return None
    flags = trace.TraceFlags(int(match.group(3), 16))
    return trace.SpanContext(trace_id, span_id, is_remote=True, trace_flags=flags)


def unsampled(traceparent: str | None) -> bool:
    """Whether ``traceparent`` is a well-formed W3C value whose trace was not sampled.

    Read from the flags byte alone (no parsing): the cheap test that lets a hop whose trace
    was dropped where it started skip making spans of its own.
    """
    return (
        traceparent is not None
        and len(traceparent) == 55
        and traceparent[-3] == "-"
        and traceparent[-1] in "02468ace"
    )


def in_unsampled_trace() -> bool:
    """Whether the current span belongs to a trace that is not being recorded.

    Children follow their parent's sampling decision (as the parent-based samplers do), so
    no span is started under a dropped parent.
    """
    current = trace.get_current_span()
    return current.get_span_context().is_valid and not current.is_recording()


def traceparent_of(span: Span) -> str | None:
    """The W3C ``traceparent`` that makes the next hop a child of ``span``."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(span))
    return carrier.get(TRACEPARENT)


def chimera_version() -> str:
    """The installed chimera-swarm version ("0" from a bare source tree)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("chimera-swarm")
    except PackageNotFoundError:  # pragma: no cover - running from a bare source tree
        return "0"
