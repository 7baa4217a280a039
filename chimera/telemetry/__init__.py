"""Observability: OpenTelemetry traces and Prometheus metrics, both off until asked for.

- :mod:`~chimera.telemetry.names`: every span, attribute and metric name.
- :mod:`~chimera.telemetry.tracing`: the process's tracing switch; W3C context helpers.
- :mod:`~chimera.telemetry.spans`, :mod:`~chimera.telemetry.judge_spans`: the spans the
  services open around the work they do (no-ops while tracing is off).
- :mod:`~chimera.telemetry.setup`: the OpenTelemetry SDK from ``OTEL_*`` variables and the
  swarm's ``telemetry:`` block (needs the ``chimera-swarm[otel]`` extra).
- :mod:`~chimera.telemetry.prometheus`: the metrics port on prometheus_client, and its
  ``/metrics`` endpoint.
"""
