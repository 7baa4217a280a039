"""The Judge: validates Results, decides, logs the decision, then commits through the unit of work.

Order per batch, and why: (1) look up each Result's task in the ledger of the tenant whose
stream it came from; (2) validate and decide; (3) write every decision to every audit sink;
(4) only then apply the decisions atomically. If (3) fails nothing is applied and the
Results stay pending, to be judged again.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from chimera.config.swarm import Swarm
from chimera.lib.logging import get_logger, redact_text
from chimera.models.audit import AuditEvent
from chimera.models.config import ResolvedJudge
from chimera.models.decision import Decision, Verdict
from chimera.models.result import Result, ResultStatus
from chimera.models.task import Task
from chimera.ports.audit import PendingAudit
from chimera.ports.judge import (
    AuditLogger,
    CommitOutcome,
    Judged,
    JudgePolicy,
    PolicyInput,
    UnitOfWork,
)
from chimera.ports.metrics import NO_METRICS, Metrics
from chimera.ports.queue import Delivery, ResultQueue
from chimera.services.audit_handover import hand_over
from chimera.services.audit_sweep import AuditSweep
from chimera.services.faults import FaultClassifier, classify_builtin, handle
from chimera.services.judge_drift import ResultDrift
from chimera.services.judge_events import decision_events, outcome_event, with_outcome_events
from chimera.services.judge_observe import count_judged
from chimera.services.judge_runs import RunFollower
from chimera.services.lease_renewer import LeaseRenewer
from chimera.services.pipeline.keeper import RunKeeper
from chimera.services.retry import Backoff
from chimera.services.worker.core import attempt_budget
from chimera.telemetry import judge_spans

log = get_logger("chimera.judge")

#: Results judged between two chances for the rest of the event loop to run.
_YIELD_EVERY = 64

#: Name recorded as the policy of decisions the Judge makes before any policy runs.
VALIDATION = "validation"


@dataclass(frozen=True)
class JudgeSettings:
    """Tuning of one Judge loop."""

    batch: int = 500
    block_ms: int = 1000
    lease_ms: int = 30_000
    retry_audit_after_s: float = 0.5
    #: Give up (raise) after this many failed batches in a row; ``None``: never (workers).
    max_consecutive_failures: int | None = None
    #: How often to send the sinks audit events a crashed process left pending.
    sweep_every_s: float = 10.0
    #: How old a pending event must be before the sweep takes it.
    sweep_after_s: float = 30.0
    #: How old a Result whose skill this Judge does not know (a newer swarm.yaml planned
    #: it) may get, left for an up-to-date Judge, before its task is dead-lettered.
    drift_wait_s: float = 600.0
    #: How often to advance every unfinished pipeline run (catches runs whose tasks were
    #: settled elsewhere: dead letters, review decisions, cancellations, crashes).
    run_sweep_every_s: float = 2.0


@dataclass(frozen=True)
class Verdicts:
    """What one batch came to: per Result, its decision (if any) and what was applied."""

    items: list[tuple[Judged, CommitOutcome]]


class Judge:
    """Judges the Results of ``tenants``.

    Args:
        swarm: skills (output schemas, sensitivity) and Judge settings per tenant and skill.
        results: the result-queue port.
        uow: applies decisions atomically.
        policies: Judge policies by registered name.
        audit: every decision is recorded here before anything is applied.
        consumer: this Judge's consumer name.
        tenants: whose results to judge (default: every tenant).
        on_outcome: called for each applied item (``chimera run`` builds its summary).
        runs: advances the pipeline runs whose steps this Judge settles (``None``: the
            swarm has no pipelines).
        after_decision / after_commit: plugin lifecycle hooks.
        metrics: counts verdicts, outcomes and retries.
    """

    def __init__(
        self,
        swarm: Swarm,
        results: ResultQueue,
        uow: UnitOfWork,
        policies: Mapping[str, JudgePolicy],
        audit: AuditLogger,
        consumer: str = "judge",
        tenants: Sequence[str] | None = None,
        settings: JudgeSettings | None = None,
        on_outcome: Callable[[Judged, CommitOutcome], None] | None = None,
        after_decision: Callable[[Decision], None] | None = None,
        after_commit: Callable[[Judged, CommitOutcome], None] | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        classify: FaultClassifier = classify_builtin,
        pending: PendingAudit | None = None,
        metrics: Metrics = NO_METRICS,
        runs: RunKeeper | None = None,
    ) -> None:
        self.swarm = swarm
        self.results = results
        self.uow = uow
        self.policies = policies
        self.audit = audit
        self.consumer = consumer
        self.tenants = list(tenants or swarm.tenants)
        self.settings = settings or JudgeSettings()
        self.on_outcome = on_outcome
        self.after_decision = after_decision
        self.after_commit = after_commit
        self.clock = clock
        self.rng = rng or random.Random()
        self.runs = (
            RunFollower(
                runs, self.tenants, self.settings.run_sweep_every_s, clock, self.rng, classify
            )
            if runs is not None
            else None
        )
        self.classify = classify
        self.pending = pending
        self.sweeper = (
            AuditSweep(pending, audit, self.tenants, self.settings.sweep_after_s)
            if pending is not None
            else None
        )
        self._last_sweep = 0.0
        self.metrics = metrics
        #: Results judged and applied since start (the stop line of a process).
        self.judged = 0
        self._reclaim_every_s = self.settings.lease_ms / 2000.0
        self.drift = ResultDrift(swarm, self.settings.drift_wait_s, self.settings.lease_ms, clock)
        self.leases = LeaseRenewer(results.renew_results, consumer, self.settings.lease_ms, "judge")

    async def run(self, stop: asyncio.Event) -> None:
        """Judge until ``stop`` is set. Results left pending by a failed audit are redone."""
        await self.results.ensure_groups(self.tenants)
        backlog = True  # start with anything this consumer left unacked last time
        last_reclaim = 0.0
        failures = 0
        while not stop.is_set():
            try:
                backlog, last_reclaim = await self._step(backlog, last_reclaim)
                failures = 0
            except Exception as exc:
                # Reading, auditing or committing failed (Redis gone, a sink down): nothing
                # of this batch was acked, so it is judged again after a pause.
                failures += 1
                limit = self.settings.max_consecutive_failures
                if limit is not None and failures >= limit:
                    raise
                pause = self.settings.retry_audit_after_s
                handle(log, "judge.batch_failed", exc, self.classify, f"retrying in {pause}s")
                backlog = True
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.settings.retry_audit_after_s)

    async def _step(self, backlog: bool, last_reclaim: float) -> tuple[bool, float]:
        if backlog:
            deliveries = await self.results.read_own_pending(
                self.consumer, self.tenants, self.settings.batch
            )
            # Results left pending for an up-to-date Judge come back here each time: the
            # backlog is done when nothing else does.
            backlog = any(not self.drift.is_left(d) for d in deliveries)
        else:
            deliveries = await self.results.read_results(
                self.consumer, self.tenants, self.settings.batch, self.settings.block_ms
            )
        if self.clock() - last_reclaim > self._reclaim_every_s:
            last_reclaim = self.clock()
            # Jittered: a Judge that left a Result for an up-to-date one (config drift)
            # would otherwise re-claim it, in step with the lease, just as it expires.
            self._reclaim_every_s = self.settings.lease_ms / 2000.0 * self.rng.uniform(0.5, 1.5)
            deliveries += await self.results.claim_stale_results(
                self.consumer, self.tenants, self.settings.lease_ms, self.settings.batch
            )
        if deliveries:
            await self.judge(deliveries)
        await self._sweep_if_due()
        if self.runs is not None:
            await self.runs.sweep_if_due()
        return backlog, last_reclaim

    async def _sweep_if_due(self) -> None:
        if self.sweeper is None or self.clock() - self._last_sweep < self.settings.sweep_every_s:
            return
        self._last_sweep = self.clock()
        try:
            sent = await self.sweeper.sweep()
        except Exception as exc:
            handle(log, "judge.audit_sweep_failed", exc, self.classify, "again at the next sweep")
            return
        if sent:
            log.warning("judge.audit_swept", events=sent, why="a process died before writing them")

    async def judge(self, deliveries: Sequence[Delivery[Result]]) -> Verdicts:
        """Judge one batch: validate, decide, audit, then apply.

        The batch's leases are renewed while it is judged, so no other Judge takes it over.
        A Result whose skill this Judge's swarm does not know is left pending for an
        up-to-date Judge instead (see :mod:`~chimera.services.judge_drift`), and left out
        of the verdicts.

        Raises:
            AuditFailed: a sink failed; nothing was applied and the Results stay pending.
        """
        tasks = await self.uow.lookup(deliveries)
        ready: list[tuple[Delivery[Result], Task | None]] = []
        unknown: list[tuple[Delivery[Result], Task, str]] = []
        for delivery, task in zip(deliveries, tasks, strict=True):
            reason = self.drift.why_not(delivery, task)
            if reason is not None and task is not None:
                unknown.append((delivery, task, reason))
            else:
                ready.append((delivery, task))
        if unknown:
            await self._leave_for_update(unknown)
        held = [d for d, _ in ready]
        async with self.leases.holding(held):
            with judge_spans.judging(held, self.consumer) as traced:
                return await self._judge(ready, traced)

    async def _leave_for_update(self, items: list[tuple[Delivery[Result], Task, str]]) -> None:
        """Leave Results this Judge cannot judge to another; dead-letter the overdue ones."""
        overdue = []
        for delivery, task, reason in items:
            if self.drift.overdue(delivery):
                overdue.append(self.drift.give_up(delivery, task, reason))
            else:
                self.drift.leave(delivery, task, reason)
        if overdue:
            written = await self.uow.dead_letter(overdue)
            await self._report(
                [i.event for i, ok in zip(overdue, written, strict=True) if ok and i.event]
            )

    async def _judge(
        self,
        ready: Sequence[tuple[Delivery[Result], Task | None]],
        traced: judge_spans.NoJudgeSpans,
    ) -> Verdicts:
        judged = []
        for i, (d, t) in enumerate(ready):
            judged.append(
                with_outcome_events(await traced.decide(i, self._decide(d, t)), self.consumer)
            )
            if i % _YIELD_EVERY == _YIELD_EVERY - 1:
                # A batch of hundreds is tens of milliseconds of CPU; the Worker sharing this
                # event loop would hold its finished calls that long.
                await asyncio.sleep(0)
        judged = traced.decided(judged)
        await self.audit.record(
            [e for item in judged for e in decision_events(item, self.consumer)]
        )
        for item in judged:
            if item.decision is not None and self.after_decision is not None:
                self._safely(self.after_decision, item.decision)
        outcomes = await traced.commit(self.uow.apply(judged))
        self.judged += len(outcomes)
        pairs = list(zip(judged, outcomes, strict=True))
        picked = [
            j.events.pick(o)
            for j, o in pairs
            if j.events is not None and o is not CommitOutcome.CANCELLED
        ]
        # A cancelled task's Result was dropped; the script kept no event for it.
        dropped = [
            outcome_event(j, o, self.consumer) for j, o in pairs if o is CommitOutcome.CANCELLED
        ]
        await self._report(picked + [event for event in dropped if event is not None])
        if self.runs is not None:
            await self.runs.after_batch(pairs)
        for item, outcome in pairs:
            if self.metrics.enabled:
                count_judged(self.metrics, item, outcome, self.clock())
            if self.after_commit is not None:
                self._safely(self.after_commit, item, outcome)
            if self.on_outcome is not None:
                self.on_outcome(item, outcome)
        return Verdicts(items=pairs)

    async def _decide(self, delivery: Delivery[Result], task: Task | None) -> Judged:
        result = delivery.message
        if result is None:
            return Judged(delivery=delivery, decision=None, task=None)
        problem = _mismatch(delivery, result, task)
        if problem is not None or task is None:
            decision = _deny(result, problem or "no live task", VALIDATION)
            return Judged(delivery=delivery, decision=decision, task=None)
        settings = self.swarm.judge_for(task.tenant, task.skill)
        skill = self.swarm.skills[task.skill]  # known: ResultDrift leaves the others pending
        if result.status is ResultStatus.FAILED:
            reason = f"task failed ({result.error_kind}): {result.error}"
            return Judged(delivery, _deny(result, reason, VALIDATION, settings), task)
        errors = skill.output_errors(result.output)
        if errors:
            reason = "output does not match schema: " + "; ".join(errors)
            return Judged(delivery, _deny(result, reason, VALIDATION, settings), task)
        policy = self.policies.get(settings.policy)
        if policy is None:
            reason = f"policy {settings.policy!r} is not installed"
            return Judged(delivery, _deny(result, reason, VALIDATION, settings), task)
        budget = attempt_budget(task, skill)
        try:
            decision = await policy.decide(
                PolicyInput(
                    result=result,
                    task=task,
                    settings=settings,
                    sensitive=skill.config.sensitive,
                    max_attempts=budget,
                )
            )
        except Exception as exc:
            # A policy that cannot decide must not block the batch (it would be redelivered
            # and fail again forever): a human decides instead.
            log.exception("judge.policy_failed", policy=settings.policy, task_id=task.id)
            failure = redact_text(f"{type(exc).__name__}: {exc}")
            reason = f"policy {settings.policy!r} failed ({failure}); a human decides"
            decision = Decision.on(
                result, Verdict.REVIEW, reason, settings.policy, settings.thresholds
            )
        if decision.verdict is Verdict.DENY and decision.retry and task.attempt < budget:
            backoff = Backoff.from_config(skill.config.retry)
            due = self.clock() + backoff.delay(task.attempt, self.rng)
            retry_task = task.next_attempt(
                decision.reason, by="judge", confidence=result.confidence, output=result.output
            )
            return Judged(delivery, decision, task, retry_task=retry_task, retry_at=due)
        if decision.retry:
            decision = decision.model_copy(update={"retry": False})
        return Judged(delivery, decision, task)

    async def _report(self, events: list[AuditEvent]) -> None:
        """Hand the outcome events the commit kept as pending to the sinks, then clear them."""
        # On failure the decision record written before the commit stands meanwhile.
        await hand_over(events, self.audit, self.pending, "judge.outcome_audit_deferred")

    def _safely(self, hook: Callable[..., None], *args: object) -> None:
        try:
            hook(*args)
        except Exception:
            log.exception("judge.hook_failed", hook=getattr(hook, "__name__", repr(hook)))


def _mismatch(delivery: Delivery[Result], result: Result, task: Task | None) -> str | None:
    if result.tenant != delivery.tenant:
        return f"result names tenant {result.tenant!r} but came from tenant {delivery.tenant!r}"
    if task is None:
        return f"no live task {result.task_id} for tenant {delivery.tenant!r}"
    if task.session != result.session:
        return f"result names session {result.session!r}; the task is in {task.session!r}"
    if task.skill != result.skill:
        return f"result names skill {result.skill!r}; the task runs {task.skill!r}"
    if task.attempt != result.attempt:
        return f"result is for attempt {result.attempt}; the task is at attempt {task.attempt}"
    return None


def _deny(
    result: Result, reason: str, policy: str, settings: ResolvedJudge | None = None
) -> Decision:
    thresholds = settings.thresholds if settings is not None else None
    return Decision.on(result, Verdict.DENY, reason, policy, thresholds)
