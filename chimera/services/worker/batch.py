"""One batch of a Worker's finished work, by what must happen to each entry."""

from __future__ import annotations

from dataclasses import dataclass, field

from chimera.models.audit import AuditEvent
from chimera.models.result import Result
from chimera.models.task import Task
from chimera.ports.queue import DeadLetter, Delivery
from chimera.ports.stores import ReviewItem
from chimera.services.worker.core import Retry


@dataclass
class Batch:
    """What finished since the last flush, by what must happen to it."""

    results: list[tuple[Delivery[Task], Result]] = field(default_factory=list)
    retries: list[tuple[Delivery[Task], Retry]] = field(default_factory=list)
    deferred: list[tuple[Delivery[Task], Task, float]] = field(default_factory=list)
    discarded: list[tuple[Delivery[Task], str]] = field(default_factory=list)
    dead: list[tuple[Delivery[Task], DeadLetter]] = field(default_factory=list)
    parked: list[tuple[Delivery[Task], ReviewItem]] = field(default_factory=list)
    events: list[AuditEvent] = field(default_factory=list)

    def __len__(self) -> int:
        return (
            len(self.results)
            + len(self.retries)
            + len(self.deferred)
            + len(self.discarded)
            + len(self.dead)
            + len(self.parked)
        )

    def merge(self, newer: Batch) -> Batch:
        """This (unsent) batch followed by what arrived since."""
        return Batch(
            results=self.results + newer.results,
            retries=self.retries + newer.retries,
            deferred=self.deferred + newer.deferred,
            discarded=self.discarded + newer.discarded,
            dead=self.dead + newer.dead,
            parked=self.parked + newer.parked,
            events=self.events + newer.events,
        )

    def deliveries(self) -> list[Delivery[Task]]:
        """Every entry the batch holds (their leases must still be renewed)."""
        return (
            [d for d, _ in self.results]
            + [d for d, _ in self.retries]
            + [d for d, _, _ in self.deferred]
            + [d for d, _ in self.discarded]
            + [d for d, _ in self.dead]
            + [d for d, _ in self.parked]
        )
