"""The pipeline-run store port: runs kept with a version, written together with their tasks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from chimera.models.audit import AuditEvent
from chimera.models.pipeline import PipelineRun
from chimera.models.task import Task


@dataclass(frozen=True)
class StoredRun:
    """A run as stored, with the version its next write must name."""

    run: PipelineRun
    version: int


@dataclass(frozen=True)
class RunWrite:
    """A run's new state and what goes with it, stored in one atomic step.

    Attributes:
        run: the run as it is now.
        expected_version: the version it was computed from (``0``: a new run).
        tasks: the tasks of the steps that became ready; one not seen before is enqueued.
        traceparents: per task, the trace context its entry carries (or none at all).
        events: audit events of what happened, kept pending with the change.
    """

    run: PipelineRun
    expected_version: int
    tasks: Sequence[Task] = ()
    traceparents: Sequence[str | None] = ()
    events: Sequence[AuditEvent] = field(default_factory=tuple)


class RunStore(Protocol):
    """Where pipeline runs live (async)."""

    async def write(self, change: RunWrite) -> int | None:
        """Store ``change`` if the run is still at ``expected_version``.

        Returns:
            How many of its tasks were enqueued, or ``None`` when another process wrote
            the run first (nothing changed: read it again and recompute).
        """
        ...

    async def load(self, tenant: str, run_ids: Sequence[str]) -> dict[str, StoredRun]:
        """The runs of ``tenant`` by id; unknown or unreadable ids are left out."""
        ...

    async def active(self, tenant: str) -> list[str]:
        """The ids of ``tenant``'s runs that have not finished, or still have open tasks."""
        ...

    async def all(self, tenant: str) -> list[StoredRun]:
        """Every run of ``tenant`` that is kept, oldest first."""
        ...
