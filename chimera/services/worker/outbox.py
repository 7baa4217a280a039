"""Finished work waiting to be sent to Redis in batches: Results, retries, dead letters.

Tasks finish one by one; sending each on its own would cost a round trip per task. The
outbox collects them and a flush sends everything in a few pipelined round trips. A flush
that fails keeps its work (the entries are still pending to this Worker, whose lease keeps
them) and the next flush sends it again: acks of acked entries do nothing and a repeated
Result is a duplicate to the Judge. Audit events go first: if they cannot be stored,
nothing else is sent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from chimera.lib.logging import get_logger
from chimera.models.audit import AuditEvent
from chimera.models.task import Task
from chimera.ports.audit import PendingAudit
from chimera.ports.judge import AuditLogger
from chimera.ports.metrics import NO_METRICS, Metrics
from chimera.ports.queue import DeadLetter, Delivery, TaskQueue
from chimera.services.audit_handover import hand_over
from chimera.services.faults import FaultClassifier, handle
from chimera.services.worker import events
from chimera.services.worker.batch import Batch
from chimera.services.worker.core import GiveUp, Park, Publish, Retry, Settlement, Wait
from chimera.services.worker.task_run import TaskRun

log = get_logger("chimera.worker")

#: The ``skill`` label of a dead letter whose entry could not be decoded.
UNKNOWN_SKILL = "unknown"


class Outbox:
    """Collects a Worker's finished work and sends it in batches.

    Args:
        queue: where Results, retries and dead letters go.
        consumer: the Worker's consumer name (the actor of its audit events).
        audit: receives the Worker's audit events, before what they describe is sent.
        on_retry: told of each retry Redis confirmed (``chimera run`` counts them).
        on_dead_letter: told of each dead letter Redis confirmed.
        pending: where the scripts keep the events of retries and dead letters until the
            sinks have them.
        metrics: counts confirmed retries and dead letters.
        clock: epoch seconds (a dead letter's age, for the metrics).
    """

    def __init__(
        self,
        queue: TaskQueue,
        consumer: str,
        audit: AuditLogger | None = None,
        on_retry: Callable[[Task], None] | None = None,
        on_dead_letter: Callable[[Delivery[Task], DeadLetter], None] | None = None,
        pending: PendingAudit | None = None,
        metrics: Metrics = NO_METRICS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.queue = queue
        self.consumer = consumer
        self.audit = audit
        self.pending = pending
        self.on_retry = on_retry
        self.on_dead_letter = on_dead_letter
        self.metrics = metrics
        self.clock = clock
        self._batch = Batch()
        self._sending = Batch()

    def __len__(self) -> int:
        return len(self._batch)

    @property
    def has_events(self) -> bool:
        """Whether audit events wait to be written."""
        return bool(self._batch.events)

    def post(self, run: TaskRun) -> None:
        """Queue what ``run`` came to, with the audit events of its tool calls."""
        delivery, settlement = run.delivery, run.settlement
        if self.audit is not None:
            self._batch.events.extend(
                events.tool_call(delivery, self.consumer, record) for record in run.tool_calls
            )
            if _failed(run):
                failed = events.attempt_failed(delivery, self.consumer, run, _error(settlement))
                self._batch.events.append(failed)
        if isinstance(settlement, Publish):
            self._batch.results.append((delivery, settlement.result))
        elif isinstance(settlement, Retry):
            self._batch.retries.append((delivery, settlement))
        elif isinstance(settlement, GiveUp):
            self._batch.dead.append((delivery, settlement.letter))
        elif isinstance(settlement, Wait):
            self._batch.deferred.append((delivery, settlement.task, settlement.due))
        elif isinstance(settlement, Park):
            self._batch.parked.append((delivery, settlement.item))

    def defer(self, delivery: Delivery[Task], task: Task, due: float) -> None:
        """Hand ``task`` back to run at ``due`` without counting a retry (halted sessions)."""
        self._batch.deferred.append((delivery, task, due))

    def discard(self, delivery: Delivery[Task], reason: str) -> None:
        """Ack and delete a stale copy; its audit event (``reason``) is written first."""
        self._batch.discarded.append((delivery, reason))
        self.record([events.discarded(delivery, self.consumer, reason)])

    def record(self, new_events: Sequence[AuditEvent]) -> None:
        """Queue audit events to be written at the next flush."""
        if self.audit is not None:
            self._batch.events.extend(new_events)

    def waiting(self) -> list[Delivery[Task]]:
        """Entries whose work is done but not yet sent: their leases must still be renewed."""
        return self._batch.deliveries() + self._sending.deliveries()

    async def flush(self) -> None:
        """Send everything collected so far; on failure keep it for the next flush.

        Raises:
            Exception: whatever the queue or the audit logger raised.
        """
        batch, self._batch = self._batch, Batch()
        self._sending = batch
        try:
            await self._send(batch)
        except BaseException:
            self._batch = batch.merge(self._batch)
            raise
        finally:
            self._sending = Batch()

    async def run(
        self,
        stop: asyncio.Event,
        ready: asyncio.Event,
        classify: FaultClassifier,
        retry_after_s: float = 0.5,
    ) -> None:
        """Flush whenever ``ready`` is set, until ``stop``; a failed flush is retried.

        Raises:
            PermanentFault: sending failed for a reason waiting cannot fix.
        """
        while not stop.is_set():
            await ready.wait()
            ready.clear()
            try:
                await self.flush()
            except Exception as exc:
                where, then = "worker.flush_failed", f"retrying in {retry_after_s}s"
                handle(log, where, exc, classify, then, waiting=len(self))
                await asyncio.sleep(retry_after_s)
                ready.set()

    async def final_flush(self) -> None:
        """Send what is left when the Worker stops; a failure is logged, not raised."""
        for _ in range(2):  # a flush that failed halfway keeps the rest for a second go
            if not len(self) and not self.has_events:
                return
            try:
                await self.flush()
            except Exception as exc:
                # The entries stay pending to this consumer and are reclaimed after the
                # lease; nothing is lost, only late.
                log.warning("worker.final_flush_failed", error=repr(exc), next="reclaimed later")
                return

    async def _send(self, batch: Batch) -> None:
        # Each part is cleared once sent, so a retry after a failure resends only the rest.
        if batch.events and self.audit is not None:
            await self.audit.record(batch.events)
        batch.events = []
        if batch.results:
            await self.queue.complete(batch.results)
            batch.results = []
        # A retry or a dead letter happens only if Redis confirms it (a step that lost a
        # race changed nothing); its audit event is kept by the same script, so it exists
        # exactly when the change does, and is reported to the sinks right after.
        if batch.retries:
            retries = batch.retries
            notes = [
                self._note(events.retried(d, self.consumer, r.task, r.due, r.error))
                for d, r in retries
            ]
            confirmed = await self.queue.retry_later(
                [(d, retry.task, retry.due) for d, retry in retries], events=notes
            )
            batch.retries = []
            for (delivery, retry), ok in zip(retries, confirmed, strict=True):
                if ok:
                    self.metrics.retried(delivery.tenant, retry.task.skill, "worker")
                if ok and self.on_retry is not None:
                    self.on_retry(retry.task)
            await self._report([n for n, ok in zip(notes, confirmed, strict=True) if ok])
        if batch.deferred:
            await self.queue.retry_later(batch.deferred, count_as_retry=False)
            batch.deferred = []
        if batch.discarded:
            # Its event went first, with the batch's events: a stale copy is gone either
            # way (discarded here, or by whoever handled it first).
            await self.queue.discard([d for d, _ in batch.discarded])
            batch.discarded = []
        if batch.dead:
            dead = batch.dead
            notes = [
                self._note(events.dead_lettered(d, self.consumer, letter)) for d, letter in dead
            ]
            confirmed = await self.queue.dead_letter(dead, events=notes)
            batch.dead = []
            for (delivery, letter), ok in zip(dead, confirmed, strict=True):
                if ok and self.metrics.enabled:
                    self._count_dead_letter(delivery)
                if ok and self.on_dead_letter is not None:
                    self.on_dead_letter(delivery, letter)
            await self._report([n for n, ok in zip(notes, confirmed, strict=True) if ok])

        if batch.parked:
            parked = batch.parked
            notes = [self._note(events.parked(d, self.consumer, item)) for d, item in parked]
            confirmed = await self.queue.park_for_review(parked, events=notes)
            batch.parked = []
            await self._report([n for n, ok in zip(notes, confirmed, strict=True) if ok])

    def _count_dead_letter(self, delivery: Delivery[Task]) -> None:
        task = delivery.message
        skill = task.skill if task is not None else UNKNOWN_SKILL
        age = self.clock() - task.created_at.timestamp() if task is not None else 0.0
        self.metrics.task_settled(delivery.tenant, skill, "dead_lettered", age)

    def _note(self, event: AuditEvent) -> AuditEvent | None:
        """``event`` if this Worker audits at all."""
        return event if self.audit is not None else None

    async def _report(self, confirmed: Sequence[AuditEvent | None]) -> None:
        """Write events Redis kept as pending to the sinks, then forget them there."""
        written = [event for event in confirmed if event is not None]
        await hand_over(written, self.audit, self.pending, "worker.audit_deferred")


def _failed(run: TaskRun) -> bool:
    """True when ``run``'s attempt ran and produced no output.

    Succeeded attempts (the hot path) add no event: their Result keeps prompt and output.
    """
    if run.started_at is None or run.delivery.message is None:
        return False  # never ran: poison, drift, an undecodable entry
    settlement = run.settlement
    if isinstance(settlement, Publish):
        return settlement.result.error is not None
    return isinstance(settlement, Retry | GiveUp)


def _error(settlement: Settlement) -> str | None:
    if isinstance(settlement, Retry):
        return settlement.error
    if isinstance(settlement, GiveUp):
        return settlement.letter.last_error
    if isinstance(settlement, Publish):
        return settlement.result.error
    return None
