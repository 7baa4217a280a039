"""The Worker: reads task batches, calls LLM backends concurrently, emits validated Results.

One asyncio event loop holds up to ``concurrency`` calls in flight (LLM calls are I/O
bound). Reads ask for as many entries as there are free slots; finished work is flushed in
batches (results + acks in one round trip). In-flight entries have their lease renewed so a
long call is never taken over, and entries left by dead workers are reclaimed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chimera.config.swarm import Skill, Swarm
from chimera.config.templates import TemplateRenderError
from chimera.lib.logging import get_logger
from chimera.models.audit import AuditEvent, AuditEventType
from chimera.models.llm import LLMRequest, Message
from chimera.models.result import ErrorKind, Result, ResultStatus
from chimera.models.task import Task
from chimera.models.types import JsonValue, utc_now
from chimera.ports.judge import AuditLogger
from chimera.ports.llm import BackendError, LLMBackend
from chimera.ports.queue import DeadLetter, Delivery, TaskQueue
from chimera.ports.session import SessionStore
from chimera.services.retry import Backoff

log = get_logger("chimera.worker")


@dataclass(frozen=True)
class WorkerSettings:
    """Tuning of one Worker process.

    Attributes:
        concurrency: tasks in flight at once.
        block_ms: how long one read waits for new entries.
        lease_ms: an entry idle this long is presumed abandoned and may be reclaimed.
        max_deliveries: an entry delivered more often than this is poison: dead-lettered.
        isolate_after: an entry delivered this often already (its workers died twice while
            holding it) runs alone, so a poison task cannot take innocent tasks down with it
            again. Entries reclaimed once (a single crash) run with the rest, so recovery
            from an ordinary crash stays fast.
        grace_s: on stop, how long in-flight tasks may run before being handed back.
        halted_recheck_s: a task of a halted session waits this long before it is looked at again.
    """

    concurrency: int = 200
    block_ms: int = 1000
    lease_ms: int = 30_000
    max_deliveries: int = 5
    isolate_after: int = 3
    grace_s: float = 10.0
    halted_recheck_s: float = 1.0
    promote_every_s: float = 0.25
    prune_every_s: float = 60.0


@dataclass
class _Outbox:
    results: list[tuple[Delivery[Task], Result]] = field(default_factory=list)
    retries: list[tuple[Delivery[Task], Task, float, str]] = field(default_factory=list)
    deferred: list[tuple[Delivery[Task], Task, float]] = field(default_factory=list)
    dead: list[tuple[Delivery[Task], DeadLetter]] = field(default_factory=list)
    events: list[AuditEvent] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.results) + len(self.retries) + len(self.deferred) + len(self.dead)

    def merge(self, newer: _Outbox) -> _Outbox:
        """This (unsent) outbox followed by what arrived since."""
        return _Outbox(
            results=self.results + newer.results,
            retries=self.retries + newer.retries,
            deferred=self.deferred + newer.deferred,
            dead=self.dead + newer.dead,
            events=self.events + newer.events,
        )


class Worker:
    """Consumes tasks of ``tenants`` as consumer ``consumer``.

    Args:
        swarm: skills and their schemas.
        queue: the task queue port.
        backends: LLM backends by registered name.
        sessions: lets the Worker skip tasks of halted sessions.
        consumer: this Worker's unique consumer name.
        tenants: whose streams to read (default: every tenant of the swarm).
        settings: tuning.
        audit: receives started / retried / dead-lettered / reclaimed events, in batches.
        clock: seconds since the epoch (tests pass a fake).
        rng: jitter source.
        on_dead_letter: called with each dead-lettered task (``chimera run`` counts them).
        on_retry: called with each task scheduled for another attempt after a failure.
    """

    def __init__(
        self,
        swarm: Swarm,
        queue: TaskQueue,
        backends: Mapping[str, LLMBackend],
        sessions: SessionStore,
        consumer: str,
        tenants: Sequence[str] | None = None,
        settings: WorkerSettings | None = None,
        audit: AuditLogger | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        on_dead_letter: Callable[[Delivery[Task], DeadLetter], None] | None = None,
        on_retry: Callable[[Task], None] | None = None,
    ) -> None:
        self.swarm = swarm
        self.queue = queue
        self.backends = backends
        self.sessions = sessions
        self.consumer = consumer
        self.tenants = list(tenants or swarm.tenants)
        self.settings = settings or WorkerSettings()
        self.audit = audit
        self.clock = clock
        self.rng = rng or random.Random()
        self.on_dead_letter = on_dead_letter
        self.on_retry = on_retry
        self._in_flight: dict[tuple[str, str], tuple[Delivery[Task], asyncio.Task[None]]] = {}
        self._suspects: list[Delivery[Task]] = []
        self._outbox = _Outbox()
        self._outbox_ready = asyncio.Event()
        self._slot_freed = asyncio.Event()
        # Read when at least this many slots are free: one read per handful of completions.
        self._low_water = max(1, self.settings.concurrency // 10)
        self.processed = 0

    # -- loop ---------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set, then finish or hand back in-flight tasks and return."""
        await self.queue.ensure_groups(self.tenants)
        background = [
            asyncio.create_task(self._flush_loop(stop), name="worker-flush"),
            asyncio.create_task(self._lease_loop(stop), name="worker-lease"),
            asyncio.create_task(self._promote_loop(stop), name="worker-promote"),
        ]
        try:
            await self._read_loop(stop)
        finally:
            await self._drain()
            stop.set()
            self._outbox_ready.set()
            for task in background:
                task.cancel()
            for task in background:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self._flush()
            if self._outbox or self._outbox.events:  # events of what that flush confirmed
                await self._flush()

    async def _read_loop(self, stop: asyncio.Event) -> None:
        low_water = self._low_water
        while not stop.is_set():
            if self._suspects:
                await self._run_suspect(stop)
                continue
            free = self.settings.concurrency - len(self._in_flight)
            if free < low_water and self._in_flight:
                # Wait for a handful of slots rather than reading one entry at a time;
                # ``_done`` only wakes us once that many are free. The timeout bounds how
                # long a stop request waits.
                self._slot_freed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.05):
                        await self._slot_freed.wait()
                continue
            try:
                deliveries = await self.queue.read_tasks(
                    self.consumer, self.tenants, free, self.settings.block_ms
                )
                if deliveries:
                    await self.accept(deliveries)
            except Exception as exc:
                # Typically Redis went away (restart, failover, killed connection) and the
                # pool reconnects on the next call; the entries we hold stay pending to us
                # or are reclaimed. Anything else is logged the same way and retried.
                log.warning("worker.read_failed", error=repr(exc))
                await _wait_either(stop, None, wait_s=0.5)

    async def accept(self, deliveries: Sequence[Delivery[Task]]) -> None:
        """Start work on ``deliveries`` (new or reclaimed), respecting halted sessions."""
        pairs = [(d.tenant, d.message.session) for d in deliveries if d.message]
        halted = await self.sessions.halted(pairs)
        started: list[AuditEvent] = []
        for delivery in deliveries:
            task = delivery.message
            if delivery.key in self._in_flight or delivery in self._suspects:
                continue  # reclaimed from ourselves (a stalled lease): it is already running
            if task is not None and (delivery.tenant, task.session) in halted:
                due = self.clock() + self.settings.halted_recheck_s
                self._outbox.deferred.append((delivery, task, due))
                self._outbox_ready.set()
                continue
            if self.settings.isolate_after <= delivery.deliveries <= self.settings.max_deliveries:
                self._suspects.append(delivery)
                continue
            if task is not None and self.audit is not None:
                started.append(_event(AuditEventType.STARTED, task, self.consumer))
            self._start(delivery)
        self._outbox.events.extend(started)

    def _start(self, delivery: Delivery[Task]) -> asyncio.Task[None]:
        job = asyncio.create_task(self._run_one(delivery))
        self._in_flight[delivery.key] = (delivery, job)
        job.add_done_callback(functools.partial(self._done, delivery.key))
        return job

    async def _run_suspect(self, stop: asyncio.Event) -> None:
        """Run one repeatedly delivered entry with nothing else in flight."""
        while self._in_flight and not stop.is_set():
            self._slot_freed.clear()
            await _wait_either(self._slot_freed, stop, wait_s=0.05)
        if stop.is_set():
            return
        delivery = self._suspects.pop(0)
        # It may have waited a while for the others to finish: make sure it is still ours
        # (renewing the lease at the same time) before running it.
        if delivery.key not in await self.queue.renew(self.consumer, [delivery]):
            log.warning("worker.suspect_taken_over", entry_id=delivery.entry_id)
            return
        log.info("worker.isolated_run", entry_id=delivery.entry_id, deliveries=delivery.deliveries)
        if delivery.message is not None and self.audit is not None:
            started = _event(AuditEventType.STARTED, delivery.message, self.consumer)
            self._outbox.events.append(started)
        job = self._start(delivery)
        await asyncio.wait([job])
        # More abandoned entries may be waiting: look now rather than at the next lease tick.
        await self.reclaim()

    def _done(self, key: tuple[str, str], _job: object = None) -> None:
        self._in_flight.pop(key, None)
        if self.settings.concurrency - len(self._in_flight) >= self._low_water:
            self._slot_freed.set()

    # -- one task -----------------------------------------------------------------------

    async def _run_one(self, delivery: Delivery[Task]) -> None:
        try:
            await self._execute(delivery)
        except Exception as exc:  # a bug must not kill the loop; the task still ends somewhere
            log.exception("worker.unexpected_error", entry_id=delivery.entry_id)
            attempts = delivery.message.attempt if delivery.message else 0
            self._post_dead(delivery, DeadLetter("worker error", attempts, repr(exc)))

    async def _execute(self, delivery: Delivery[Task]) -> None:
        task = delivery.message
        if task is None:
            self._post_dead(delivery, DeadLetter("undecodable task entry", 0, delivery.raw[:500]))
            return
        if delivery.deliveries > self.settings.max_deliveries:
            reason = f"poison: delivered {delivery.deliveries} times"
            self._post_dead(delivery, DeadLetter(reason, task.attempt, None))
            return
        skill = self.swarm.skills.get(task.skill)
        started = utc_now()
        if skill is None or not self.swarm.tenant_may_run(task.tenant, task.skill):
            error = f"tenant {task.tenant!r} may not run skill {task.skill!r}"
            self._post_failure(delivery, task, started, ErrorKind.INVALID_INPUT, error)
            return
        errors = skill.input_errors(task.input)
        if errors:
            message = "input does not match schema: " + "; ".join(errors)
            self._post_failure(delivery, task, started, ErrorKind.INVALID_INPUT, message)
            return
        try:
            prompt = skill.template.render(
                task.input,
                feedback=task.feedback,
                attempt=task.attempt,
                skill=task.skill,
                tenant=task.tenant,
            )
        except TemplateRenderError as exc:
            self._post_failure(delivery, task, started, ErrorKind.INVALID_INPUT, f"prompt: {exc}")
            return
        await self._call(delivery, task, skill, prompt)

    async def _call(self, delivery: Delivery[Task], task: Task, skill: Skill, prompt: str) -> None:
        config = skill.config
        backend = self.backends.get(config.backend)
        begun = utc_now()
        if backend is None:
            message = f"backend {config.backend!r} is not installed"
            self._post_failure(delivery, task, begun, ErrorKind.BACKEND, message)
            return
        # Every field comes from validated config or a validated Task: skip re-validating the
        # output schema (a nested dict) on every call.
        request = LLMRequest.model_construct(
            skill=task.skill,
            messages=[Message.user(prompt)],
            output_schema=config.output_schema,
            model=config.model,
            options=config.options,
            input=task.input,
            attempt=task.attempt,
        )
        hint: float | None = None
        try:
            async with asyncio.timeout(config.timeout_s):
                response = await backend.complete(request)
        except TimeoutError:
            kind, message = ErrorKind.TIMEOUT, f"backend took longer than {config.timeout_s}s"
        except BackendError as exc:
            kind, message, hint = exc.kind, str(exc), exc.retry_after_s
        except Exception as exc:  # a plugin's bug is a backend failure, not a worker crash
            kind, message = ErrorKind.BACKEND, f"{type(exc).__name__}: {exc}"
        else:
            if response.output is None:
                kind, message = ErrorKind.INVALID_OUTPUT, "the backend asked for tools; none exist"
                self._post_failure(delivery, task, begun, kind, message, hint)
                return
            errors = skill.output_errors(response.output)
            if not errors:
                confidence = (
                    response.confidence
                    if response.confidence is not None
                    else config.default_confidence
                )
                result = self._result(
                    task,
                    begun,
                    status=ResultStatus.SUCCEEDED,
                    output=response.output,
                    confidence=confidence,
                    usage=response.usage,
                )
                self._post_result(delivery, result)
                return
            kind, message = (
                ErrorKind.INVALID_OUTPUT,
                "output does not match schema: " + "; ".join(errors),
            )
        self._post_failure(delivery, task, begun, kind, message, hint)

    def _post_failure(
        self,
        delivery: Delivery[Task],
        task: Task,
        started: datetime,
        kind: ErrorKind,
        message: str,
        hint: float | None = None,
    ) -> None:
        skill = self.swarm.skills.get(task.skill)
        if kind.retryable and skill is not None:
            if task.attempt < task.max_attempts:
                backoff = Backoff.from_config(skill.config.retry)
                due = self.clock() + backoff.delay(task.attempt, self.rng, hint)
                self._post_retry(delivery, task.next_attempt(task.feedback), due, message)
                return
            reason = f"gave up after {task.attempt} attempts"
            self._post_dead(delivery, DeadLetter(reason, task.attempt, f"{kind}: {message}"))
            return
        result = self._result(
            task,
            started,
            status=ResultStatus.FAILED,
            error=message[:2000],
            error_kind=kind,
            confidence=0.0,
        )
        self._post_result(delivery, result)

    def _result(self, task: Task, started: datetime, **outcome: Any) -> Result:
        """A Result of this attempt at ``task``, finished now."""
        return Result(
            task_id=task.id,
            tenant=task.tenant,
            session=task.session,
            skill=task.skill,
            attempt=task.attempt,
            worker=self.consumer,
            trace_id=task.trace_id,
            started_at=started,
            finished_at=utc_now(),
            **outcome,
        )

    # -- outbox -------------------------------------------------------------------------

    def _post_result(self, delivery: Delivery[Task], result: Result) -> None:
        self._outbox.results.append((delivery, result))
        self._outbox_ready.set()

    def _post_retry(self, delivery: Delivery[Task], task: Task, due: float, error: str) -> None:
        self._outbox.retries.append((delivery, task, due, error))
        self._outbox_ready.set()

    def _post_dead(self, delivery: Delivery[Task], letter: DeadLetter) -> None:
        self._outbox.dead.append((delivery, letter))
        self._outbox_ready.set()

    def _retried(self, task: Task, due: float, error: str) -> None:
        """Report a retry Redis confirmed (audit event at the next flush, callback now)."""
        if self.on_retry is not None:
            self.on_retry(task)
        if self.audit is not None:
            data: dict[str, JsonValue] = {"attempt": task.attempt, "due": due, "error": error[:500]}
            self._outbox.events.append(_event(AuditEventType.RETRIED, task, self.consumer, data))
            self._outbox_ready.set()

    def _dead_lettered(self, delivery: Delivery[Task], letter: DeadLetter) -> None:
        """Report a dead letter Redis confirmed."""
        if self.audit is not None and delivery.message is not None:
            data: dict[str, JsonValue] = {
                "reason": letter.reason,
                "attempts": letter.attempts,
                "error": letter.last_error,
            }
            event = _event(AuditEventType.DEAD_LETTERED, delivery.message, self.consumer, data)
            self._outbox.events.append(event)
            self._outbox_ready.set()
        if self.on_dead_letter is not None:
            self.on_dead_letter(delivery, letter)

    async def _flush_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self._outbox_ready.wait()
            self._outbox_ready.clear()
            try:
                await self._flush()
            except Exception:
                # Keep the finished work and try again: the entries are still pending, and
                # a flush that did land before the error is harmless to repeat (acks of
                # acked entries do nothing; a repeated Result is a duplicate to the Judge).
                log.exception("worker.flush_failed")
                await asyncio.sleep(0.5)
                self._outbox_ready.set()

    async def _flush(self) -> None:
        box, self._outbox = self._outbox, _Outbox()
        try:
            await self._send(box)
        except BaseException:
            self._outbox = box.merge(self._outbox)
            raise
        self.processed += len(box)

    async def _send(self, box: _Outbox) -> None:
        if box.events and self.audit is not None:
            try:
                await self.audit.record(box.events)
            except Exception:
                log.exception("worker.audit_failed", events=len(box.events))
            box.events = []
        # Each part is cleared once sent, so a retry after a failure resends only the rest.
        if box.results:
            await self.queue.complete(box.results)
            box.results = []
        # Retries and dead letters are reported only once Redis confirms them: a step that
        # lost a race (another consumer took the entry, the task settled) changed nothing.
        if box.retries:
            retries = box.retries
            done = await self.queue.retry_later([(d, t, due) for d, t, due, _ in retries])
            box.retries = []
            for (_, task, due, error), ok in zip(retries, done, strict=True):
                if ok:
                    self._retried(task, due, error)
        if box.deferred:
            await self.queue.retry_later(box.deferred, count_as_retry=False)
            box.deferred = []
        if box.dead:
            dead = box.dead
            done = await self.queue.dead_letter(dead)
            box.dead = []
            for (delivery, letter), ok in zip(dead, done, strict=True):
                if ok:
                    self._dead_lettered(delivery, letter)

    # -- leases, reclaim, retries -------------------------------------------------------

    async def _lease_loop(self, stop: asyncio.Event) -> None:
        interval = self.settings.lease_ms / 3000.0
        last_prune = self.clock()
        while not await _wait_either(stop, None, wait_s=interval):
            try:
                await self.renew_leases()
                await self.reclaim()
                if self.clock() - last_prune > self.settings.prune_every_s:
                    last_prune = self.clock()
                    idle_ms = max(10 * self.settings.lease_ms, 60_000)
                    await self.queue.prune_consumers(self.tenants, idle_ms)
            except Exception:
                log.exception("worker.lease_failed")

    async def renew_leases(self) -> None:
        """Renew every in-flight entry; cancel the work of any entry someone else took."""
        deliveries = [d for d, _ in self._in_flight.values()] + self._suspects
        if not deliveries:
            return
        owned = await self.queue.renew(self.consumer, deliveries)
        for delivery in deliveries:
            if delivery.key not in owned:
                if delivery in self._suspects:
                    self._suspects.remove(delivery)
                entry = self._in_flight.get(delivery.key)
                if entry is not None:
                    log.warning("worker.lease_lost", entry_id=delivery.entry_id)
                    entry[1].cancel()

    async def reclaim(self) -> int:
        """Take over entries idle past the lease from dead consumers; return how many.

        Entries are claimed one at a time and claiming stops at the first suspect (an entry
        delivered before): a Worker holds at most one suspect and runs it alone, so a task
        that kills its worker never takes other reclaimed tasks down with it.
        """
        taken = 0
        while not self._suspects and self.settings.concurrency > len(self._in_flight):
            claimed = await self.queue.claim_stale(
                self.consumer, self.tenants, self.settings.lease_ms, 1
            )
            if not claimed:
                break
            if self.audit is not None:
                self._outbox.events.extend(
                    _event(
                        AuditEventType.RECLAIMED,
                        d.message,
                        self.consumer,
                        {"deliveries": d.deliveries},
                    )
                    for d in claimed
                    if d.message is not None
                )
            await self.accept(claimed)
            taken += len(claimed)
        return taken

    async def _promote_loop(self, stop: asyncio.Event) -> None:
        while not await _wait_either(stop, None, wait_s=self.settings.promote_every_s):
            try:
                await self.queue.promote_due(self.tenants, self.clock())
            except Exception:
                log.exception("worker.promote_failed")

    async def _drain(self) -> None:
        """Let in-flight tasks finish within the grace period; hand the rest back."""
        if self._suspects:
            suspects, self._suspects = self._suspects, []
            await self.queue.release(suspects)
        if not self._in_flight:
            return
        jobs = [job for _, job in self._in_flight.values()]
        _, pending = await asyncio.wait(jobs, timeout=self.settings.grace_s)
        leftovers = [d for d, job in list(self._in_flight.values()) if job in pending]
        for job in pending:
            job.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if leftovers:
            await self.queue.release(leftovers)
            log.info("worker.handed_back", tasks=len(leftovers))


async def _wait_either(first: asyncio.Event, second: asyncio.Event | None, wait_s: float) -> bool:
    """Wait until either event is set or ``wait_s`` passes; True if ``first`` is set."""
    waiters = [asyncio.create_task(first.wait())]
    if second is not None:
        waiters.append(asyncio.create_task(second.wait()))
    _, pending = await asyncio.wait(waiters, timeout=wait_s, return_when=asyncio.FIRST_COMPLETED)
    for waiter in pending:
        waiter.cancel()
    return first.is_set()


def _event(
    kind: AuditEventType, task: Task, actor: str, data: dict[str, JsonValue] | None = None
) -> AuditEvent:
    return AuditEvent(
        type=kind,
        tenant=task.tenant,
        session=task.session,
        task_id=task.id,
        trace_id=task.trace_id,
        actor=f"worker:{actor}",
        data={"skill": task.skill, "attempt": task.attempt, **(data or {})},
    )
