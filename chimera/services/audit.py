"""Audit fan-out and the structlog sink."""

from __future__ import annotations

from collections.abc import Sequence

from chimera.lib.logging import debug_enabled, get_logger
from chimera.models.audit import AuditEvent
from chimera.ports.judge import AuditSink


class AuditFailed(Exception):
    """A sink did not store the events; whatever they describe must not be committed."""


class FanoutAuditLogger:
    """Implements :class:`~chimera.ports.judge.AuditLogger`: every sink, in order.

    Sinks are written one after another and the first failure stops the call: the caller
    (the Judge) then commits nothing, and the same events are written again on the retry.
    Sinks must therefore tolerate seeing an event twice; the Redis sink's chain records a
    retried decision as a second entry, which is the truthful history.
    """

    def __init__(self, sinks: Sequence[AuditSink]) -> None:
        self.sinks = list(sinks)

    async def record(self, events: Sequence[AuditEvent]) -> None:
        """Write ``events`` to every sink.

        Raises:
            AuditFailed: naming the sink that failed.
        """
        if not events:
            return
        for sink in self.sinks:
            try:
                await sink.write(events)
            except Exception as exc:
                raise AuditFailed(f"audit sink {sink.name!r} failed: {exc}") from exc


class LogAuditSink:
    """Writes each event as a structured log line (``audit`` logger).

    At DEBUG by default: a line per event is several lines per task, which on a busy
    worker costs more CPU than the task itself and buries what needs attention. Set
    ``audit: {log_level: info}`` to see them at INFO.

    Args:
        level: ``debug`` or ``info``.
    """

    name = "log"

    def __init__(self, level: str = "debug") -> None:
        self._log = get_logger("chimera.audit")
        self.level = level

    async def write(self, events: Sequence[AuditEvent]) -> None:
        """Log every event at the sink's level (nothing is built when it is filtered out)."""
        if self.level == "debug" and not debug_enabled():
            return
        emit = self._log.debug if self.level == "debug" else self._log.info
        for event in events:
            emit(
                f"audit.{event.type.value}",
                tenant=event.tenant,
                session=event.session,
                task_id=event.task_id,
                trace_id=event.trace_id,
                actor=event.actor,
                **event.data,
            )
