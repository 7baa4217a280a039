"""Tracing into the OpenTelemetry SDK's own in-memory exporter, for tests."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from chimera.telemetry import tracing


def start(capture_content: bool = False) -> tuple[InMemorySpanExporter, TracerProvider]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.activate(provider, capture_content=capture_content)
    return exporter, provider


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on (content capture off) for the test; the exporter holds what ended."""
    exporter, provider = start()
    yield exporter
    tracing.deactivate()
    provider.shutdown()


@pytest.fixture
def content_spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on with content capture."""
    exporter, provider = start(capture_content=True)
    yield exporter
    tracing.deactivate()
    provider.shutdown()


def named(finished: Sequence[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in finished if s.name == name]


def one(finished: Sequence[ReadableSpan], name: str) -> ReadableSpan:
    found = named(finished, name)
    assert len(found) == 1, f"{len(found)} spans named {name!r}: {[s.name for s in finished]}"
    return found[0]


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None
