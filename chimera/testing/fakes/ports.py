"""Every fake port over one shared :class:`MemoryStore`, ready to hand to the services."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from chimera.ports.audit import AuditTrail, PendingAudit
from chimera.ports.judge import AuditLogger, AuditSink, UnitOfWork
from chimera.ports.queue import QueueStats, ResultQueue, TaskQueue
from chimera.ports.quota import UsageStore
from chimera.ports.session import SessionStore
from chimera.ports.stores import (
    DeadLetterStore,
    ResultStore,
    ReviewStore,
    TaskCanceller,
    TaskStatusStore,
)
from chimera.testing.fakes.audit import FakeAuditSink, RecordingAuditLogger
from chimera.testing.fakes.faults import Faults
from chimera.testing.fakes.pending import FakePendingAudit
from chimera.testing.fakes.queue import FakeQueue
from chimera.testing.fakes.store import MemoryStore, TenantData
from chimera.testing.fakes.stores import (
    FakeDeadLetterStore,
    FakeResultStore,
    FakeReviewStore,
    FakeSessionStore,
    FakeTaskCanceller,
    FakeTaskStatusStore,
    FakeUsageStore,
)
from chimera.testing.fakes.unit_of_work import FakeUnitOfWork


class FakePorts:
    """One in-memory "Redis" and every port over it.

    Wire them as the composition root wires the Redis adapters::

        ports = FakePorts()
        planner = Planner(swarm, ports.queue, ports.sessions, audit)
        judge = Judge(swarm, ports.queue, ports.uow, policies, audit)
        ...
        assert ports.tenant("acme").committed  # what was committed, by task id

    Args:
        clock: epoch seconds for entry ids, idle and due times (``ManualClock`` to step it).
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.store = MemoryStore(clock)
        self.queue = FakeQueue(self.store)
        self.uow = FakeUnitOfWork(self.store)
        self.sessions = FakeSessionStore(self.store)
        self.reviews = FakeReviewStore(self.store)
        self.dead_letters = FakeDeadLetterStore(self.store)
        self.results = FakeResultStore(self.store)
        self.task_status = FakeTaskStatusStore(self.store)
        self.canceller = FakeTaskCanceller(self.store)
        self.usage = FakeUsageStore(self.store)
        self.audit_sink = FakeAuditSink(self.store)
        self.pending_audit = FakePendingAudit(self.store)

    @property
    def faults(self) -> Faults:
        """Planned failures of any fake here (see :class:`Faults`)."""
        return self.store.faults

    def tenant(self, name: str) -> TenantData:
        """What is stored for tenant ``name``."""
        return self.store.tenant(name)


if TYPE_CHECKING:  # mypy checks that every fake implements its port
    _task_queue: TaskQueue = FakeQueue()
    _result_queue: ResultQueue = FakeQueue()
    _queue_stats: QueueStats = FakeQueue()
    _uow: UnitOfWork = FakeUnitOfWork()
    _sessions: SessionStore = FakeSessionStore()
    _reviews: ReviewStore = FakeReviewStore()
    _dead_letters: DeadLetterStore = FakeDeadLetterStore()
    _results: ResultStore = FakeResultStore()
    _task_status: TaskStatusStore = FakeTaskStatusStore()
    _canceller: TaskCanceller = FakeTaskCanceller()
    _usage: UsageStore = FakeUsageStore()
    _sink: AuditSink = FakeAuditSink()
    _trail: AuditTrail = FakeAuditSink()
    _pending: PendingAudit = FakePendingAudit(MemoryStore())
    _logger: AuditLogger = RecordingAuditLogger()
