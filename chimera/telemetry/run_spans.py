"""The span a pipeline run starts with: every step's spans go under it, one trace per run."""

from __future__ import annotations

from opentelemetry.trace import SpanKind

from chimera.telemetry import names
from chimera.telemetry.tracing import state, traceparent_of

#: Attribute naming the pipeline of a run span.
PIPELINE = "chimera.pipeline"
#: Attribute naming the run.
RUN_ID = "chimera.pipeline.run.id"


def run_span(pipeline: str, run_id: str, tenant: str, session: str) -> tuple[str, str] | None:
    """Start and end the PRODUCER span of a new run.

    Returns:
        ``(trace_id, traceparent)`` for the run to keep and every step's entry to carry,
        or ``None`` while tracing is off or the sampler dropped the run.
    """
    tracer = state.tracer
    if tracer is None:
        return None
    span = tracer.start_span(
        f"run {pipeline}",
        kind=SpanKind.PRODUCER,
        attributes={
            PIPELINE: pipeline,
            RUN_ID: run_id,
            names.TENANT: tenant,
            names.SESSION: session,
        },
    )
    try:
        context = span.get_span_context()
        parent = traceparent_of(span)
        if not span.is_recording() or parent is None:
            return None
        return f"{context.trace_id:032x}", parent
    finally:
        span.end()
