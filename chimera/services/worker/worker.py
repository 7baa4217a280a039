"""The Worker: reads task batches, runs each as an agent, sends what they come to in batches.

One asyncio event loop holds up to ``concurrency`` tasks in flight (LLM and tool calls are
I/O bound). Reads ask for as many entries as there are free slots, shared fairly among the
tenants and within each tenant's quotas (``fair_read.FairReader``). Each task's way from
entry to settlement is :class:`~chimera.services.worker.task_run.TaskRunner`; finished work
goes through the :class:`~chimera.services.worker.outbox.Outbox`; leases are kept by the
:class:`~chimera.services.worker.leases.LeaseKeeper`; due retries and idle consumers by
:class:`~chimera.services.worker.housekeeping.Housekeeping`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

from chimera.config.swarm import Skill, Swarm
from chimera.lib.logging import get_logger, redact_text
from chimera.models.task import Task
from chimera.ports.audit import PendingAudit
from chimera.ports.judge import AuditLogger
from chimera.ports.llm import LLMBackend
from chimera.ports.metrics import NO_METRICS, Metrics
from chimera.ports.queue import (
    Admission,
    AdmitAction,
    DeadLetter,
    Delivery,
    TaskQueue,
    ThrottleChange,
)
from chimera.ports.tools import ToolBinding, Toolbox
from chimera.services.background import supervised
from chimera.services.faults import FaultClassifier, classify_builtin, handle
from chimera.services.quotas import read_limits, throttle_event
from chimera.services.retention import RetentionSweep
from chimera.services.worker import events
from chimera.services.worker.core import GiveUp
from chimera.services.worker.drift import DriftGuard
from chimera.services.worker.events import log_ids
from chimera.services.worker.fair_read import FairReader
from chimera.services.worker.housekeeping import Housekeeping
from chimera.services.worker.in_flight import InFlight
from chimera.services.worker.leases import LeaseKeeper
from chimera.services.worker.outbox import Outbox
from chimera.services.worker.settings import WorkerSettings
from chimera.services.worker.task_run import MAX_RAW_CHARS, TaskRun, TaskRunner

log = get_logger("chimera.worker")


class Worker:
    """Consumes tasks of ``tenants`` as consumer ``consumer``.

    Args:
        swarm: skills and their schemas.
        queue: the task queue port.
        backends: LLM backends by registered name.
        consumer: this Worker's unique consumer name.
        tenants: whose streams to read (default: every tenant of the swarm).
        settings: tuning.
        audit: receives retried / dead-lettered / reclaimed / tool-call events.
        clock: seconds since the epoch (tests pass a fake).
        rng: jitter source.
        on_dead_letter: called with each dead-lettered task (``chimera run`` counts them).
        on_retry: called with each task scheduled for another attempt after a failure.
        toolbox: calls the skills' tools.
        tools_for: the tools of a skill, by the name the model sees.
        classify: tells transient errors from permanent ones (a Redis-aware classifier is
            given by the composition root).
        pending_audit: where scripts keep the audit events of retries and dead letters
            until the sinks have them.
        metrics: counts and times calls, retries and dead letters; reads tasks in flight.
        retention: sweeps what swarm.yaml's ``retention:`` lets go, in the background.
    """

    def __init__(
        self,
        swarm: Swarm,
        queue: TaskQueue,
        backends: Mapping[str, LLMBackend],
        consumer: str,
        tenants: Sequence[str] | None = None,
        settings: WorkerSettings | None = None,
        audit: AuditLogger | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        on_dead_letter: Callable[[Delivery[Task], DeadLetter], None] | None = None,
        on_retry: Callable[[Task], None] | None = None,
        toolbox: Toolbox | None = None,
        tools_for: Callable[[Skill, str], Awaitable[Mapping[str, ToolBinding]]] | None = None,
        classify: FaultClassifier = classify_builtin,
        pending_audit: PendingAudit | None = None,
        metrics: Metrics = NO_METRICS,
        retention: RetentionSweep | None = None,
    ) -> None:
        self.swarm = swarm
        self.queue = queue
        self.consumer = consumer
        self.tenants = list(tenants or swarm.tenants)
        self.settings = settings or WorkerSettings()
        self.clock = clock
        self.classify = classify
        self.metrics = metrics
        self.runner = TaskRunner(
            swarm,
            backends,
            consumer,
            self.settings.max_deliveries,
            toolbox=toolbox,
            tools_for=tools_for,
            clock=clock,
            rng=rng,
            metrics=metrics,
            drift=DriftGuard(
                swarm, self.settings.drift_wait_s, self.settings.drift_recheck_s, clock
            ),
        )
        self.outbox = Outbox(
            queue,
            consumer,
            audit,
            on_retry,
            on_dead_letter,
            pending_audit,
            metrics=metrics,
            clock=clock,
        )
        self.leases = LeaseKeeper(queue, consumer, self.tenants, self.settings.lease_ms)
        self.housekeeping = Housekeeping(
            queue,
            self.tenants,
            self.settings.lease_ms,
            self.settings.prune_every_s,
            clock,
            retention=retention,
        )
        self.in_flight = InFlight(self.settings.concurrency, self.settings.low_water, self._run_one)
        metrics.track_in_flight(self.in_flight.__len__)
        #: Attempts run to a settlement, and entries handed back on stop (the stop line).
        self.finished = 0
        self.handed_back = 0
        self.reader = FairReader(queue, consumer, self.tenants, read_limits(swarm))
        self._outbox_ready = asyncio.Event()

    @property
    def on_retry(self) -> Callable[[Task], None] | None:
        """Called with each task scheduled for another attempt (Redis confirmed it)."""
        return self.outbox.on_retry

    @on_retry.setter
    def on_retry(self, callback: Callable[[Task], None] | None) -> None:
        self.outbox.on_retry = callback

    # -- the loop -----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set, then finish or hand back in-flight tasks and return.

        Raises:
            PermanentFault: a loop met an error that waiting cannot fix (no permission,
                wrong password); in-flight work was handed back first.
        """
        await self.queue.ensure_groups(self.tenants)
        failures: list[BaseException] = []
        flush = self.outbox.run(stop, self._outbox_ready, self.classify)
        background = [
            supervised(flush, "worker-flush", stop, failures),
            supervised(self._lease_loop(stop), "worker-lease", stop, failures),
            supervised(self._promote_loop(stop), "worker-promote", stop, failures),
        ]
        if self.housekeeping.retain_every_s is not None:
            background.append(
                supervised(self._retention_loop(stop), "worker-retention", stop, failures)
            )
        try:
            await self._read_loop(stop)
        finally:
            await self._drain()
            stop.set()
            self._outbox_ready.set()
            # The flush loop is let finish the flush it is in: cancelled halfway, a batch
            # Redis already took would be sent again by the final flush.
            flushing, others = background[0], background[1:]
            for task in others:
                task.cancel()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(flushing), self.settings.grace_s)
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await self.outbox.final_flush()
        if failures:
            raise failures[0]

    async def _read_loop(self, stop: asyncio.Event) -> None:
        in_flight = self.in_flight
        while not stop.is_set():
            if in_flight.suspects:
                await self._run_suspect(stop)
                continue
            if in_flight.free < self.settings.low_water and len(in_flight):
                # Wait for a handful of slots rather than reading one entry at a time. The
                # timeout bounds how long a stop request waits.
                await in_flight.wait_for_slots(0.05)
                continue
            try:
                read = await self.reader.read(in_flight.free, self.settings.block_ms)
                if read.changes:
                    self._throttle_changes(read.changes)
                if read.deliveries:
                    await self.accept(read.deliveries)
            except Exception as exc:
                # Typically Redis went away and the pool reconnects on the next call; the
                # entries we hold stay pending to us or are reclaimed.
                handle(log, "worker.read_failed", exc, self.classify, "retrying in 0.5s")
                await _wait(stop, 0.5)

    def _throttle_changes(self, changes: Sequence[ThrottleChange]) -> None:
        """A tenant became throttled by (or was released from) a quota: log and audit it."""
        for change in changes:
            what = "worker.tenant_throttled" if change.throttled else "worker.tenant_released"
            log.info(what, tenant=change.tenant, limit=change.reason)
            if change.throttled:
                self.metrics.quota_throttled(change.tenant, change.reason)
        self.outbox.record([throttle_event(change, self.consumer) for change in changes])
        self._outbox_ready.set()

    async def accept(self, deliveries: Sequence[Delivery[Task]]) -> bool:
        """Start work on ``deliveries`` (new or reclaimed) that their ledgers admit.

        One admission call for the whole batch decides, before anything runs (a run costs
        tokens): an entry that is not one of its tenant's live tasks is dead-lettered (not
        a task of the ledger: undecodable, forged, another tenant's) or discarded (a stale
        copy), a task of a halted session waits, the rest run.

        Returns:
            False when an entry must run alone (it was delivered too often), so callers
            that claim entries one by one stop claiming.
        """
        fresh = [d for d in deliveries if not self.in_flight.holds(d)]
        # Reclaimed from ourselves (a stalled lease): those are already running.
        if not fresh:
            return True
        admissions = await self.queue.admit(fresh)
        alone = turned_away = False
        for delivery, admission in zip(fresh, admissions, strict=True):
            if admission.action is not AdmitAction.RUN:
                self._turn_away(delivery, admission)
                turned_away = True
                continue
            if self.settings.isolate_after <= delivery.deliveries <= self.settings.max_deliveries:
                self.in_flight.suspects.append(delivery)
                alone = True
                continue
            # No record of the start: the record that ends the attempt (the Judge's
            # decision, a failed attempt's result, a dead letter) carries when it started
            # and on which Worker; one record fewer per task (issue 14.1).
            self.in_flight.start(delivery)
        if turned_away:  # what runs wakes the outbox when it ends; the rest goes now
            self._outbox_ready.set()
        return not alone

    def _turn_away(self, delivery: Delivery[Task], admission: Admission) -> None:
        """Hand an entry its ledger does not let run to the outbox: wait, discard or DLQ."""
        task = delivery.message
        if admission.action is AdmitAction.WAIT and task is not None:
            wait = admission.wait_s
            due = self.clock() + (self.settings.halted_recheck_s if wait is None else wait)
            self.outbox.defer(delivery, task, due)
        elif admission.action is AdmitAction.DISCARD:
            log.info("worker.discarded", reason=admission.reason, **log_ids(delivery))
            self.outbox.discard(delivery, admission.reason)
        else:
            log.warning("worker.refused", reason=admission.reason, **log_ids(delivery))
            attempts = task.attempt if task is not None else 0
            letter = DeadLetter(admission.reason, attempts, delivery.problem, in_ledger=False)
            self.outbox.post(TaskRun(delivery, GiveUp(letter)))

    async def _run_one(self, delivery: Delivery[Task]) -> None:
        try:
            run = await self.runner.run(delivery)
        except Exception as exc:  # a bug must not kill the loop; the task still ends somewhere
            log.exception("worker.unexpected_error", **log_ids(delivery))
            attempts = delivery.message.attempt if delivery.message else 0
            letter = DeadLetter("worker error", attempts, redact_text(repr(exc))[:MAX_RAW_CHARS])
            run = TaskRun(delivery, GiveUp(letter))
        self.outbox.post(run)
        self.finished += 1
        self._outbox_ready.set()

    async def _run_suspect(self, stop: asyncio.Event) -> None:
        """Run one repeatedly delivered entry with nothing else in flight."""
        await self.in_flight.wait_idle(stop)
        if stop.is_set():
            return
        delivery = self.in_flight.suspects.pop(0)
        # It may have waited a while for the others to finish: make sure it is still ours
        # (renewing the lease at the same time) before running it.
        if await self.leases.renew([delivery]):
            log.warning("worker.suspect_taken_over", **log_ids(delivery))
            return
        log.info("worker.isolated_run", deliveries=delivery.deliveries, **log_ids(delivery))
        await asyncio.wait([self.in_flight.start(delivery)])
        # More abandoned entries may be waiting: look now rather than at the next lease tick.
        await self.reclaim()

    # -- sending, leases, housekeeping --------------------------------------------------

    async def _lease_loop(self, stop: asyncio.Event) -> None:
        interval = self.settings.lease_ms / 3000.0
        while not await _wait(stop, interval):
            try:
                await self.renew_leases()
                await self.reclaim()
                await self.housekeeping.prune_if_due()
            except Exception as exc:
                handle(log, "worker.lease_failed", exc, self.classify, f"again in {interval}s")

    async def renew_leases(self) -> None:
        """Renew every entry this Worker holds; cancel the work of any entry someone took."""
        lost = await self.leases.renew(self.in_flight.deliveries() + self.outbox.waiting())
        for delivery in lost:
            if self.in_flight.lost(delivery):
                log.warning("worker.lease_lost", **log_ids(delivery))

    async def reclaim(self) -> int:
        """Take over entries idle past the lease from dead consumers; return how many."""

        def room() -> bool:
            return not self.in_flight.suspects and self.in_flight.free > 0

        async def accept(claimed: list[Delivery[Task]]) -> bool:
            self.outbox.record(
                [events.reclaimed(d, self.consumer) for d in claimed if d.message is not None]
            )
            return await self.accept(claimed)

        return await self.leases.reclaim(room, accept)

    async def _promote_loop(self, stop: asyncio.Event) -> None:
        every = self.settings.promote_every_s
        while not await _wait(stop, every):
            try:
                await self.housekeeping.promote()
            except Exception as exc:
                handle(log, "worker.promote_failed", exc, self.classify, f"again in {every}s")

    async def _retention_loop(self, stop: asyncio.Event) -> None:
        # Apart from the lease loop: a long sweep must never delay lease renewals.
        every = self.housekeeping.retain_every_s or 0.0
        while not await _wait(stop, every):
            try:
                await self.housekeeping.retain()
            except Exception as exc:
                handle(log, "worker.retention_failed", exc, self.classify, f"again in {every}s")

    async def _drain(self) -> None:
        """Let in-flight tasks finish within the grace period; hand the rest back."""
        suspects, self.in_flight.suspects = self.in_flight.suspects, []
        if suspects:
            await self._release(suspects)
            self.handed_back += len(suspects)
        leftovers = await self.in_flight.drain(self.settings.grace_s)
        if leftovers:
            await self._release(leftovers)
            self.handed_back += len(leftovers)
            log.info("worker.handed_back", tasks=len(leftovers))

    async def _release(self, deliveries: list[Delivery[Task]]) -> None:
        try:
            await self.queue.release(deliveries)
        except Exception as exc:
            # Still pending to us: another Worker reclaims them after the lease.
            log.warning("worker.release_failed", error=repr(exc), tasks=len(deliveries))


async def _wait(event: asyncio.Event, seconds: float) -> bool:
    """Wait until ``event`` is set or ``seconds`` pass; True if it is set."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
    return event.is_set()
