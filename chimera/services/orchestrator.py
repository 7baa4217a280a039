"""The orchestrator: Planner → queue → Worker → Judge in one process, until every task settles.

``chimera run`` uses it. It submits, runs a Worker and a Judge on one event loop, and
follows each submitted task to its outcome: committed, denied, parked for review, or
dead-lettered. It makes no external calls of its own; backends do.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from chimera.models.decision import Verdict
from chimera.models.task import Task
from chimera.models.types import JsonValue, utc_now
from chimera.ports.judge import CommitOutcome, Judged
from chimera.ports.queue import DeadLetter, Delivery
from chimera.services.judge import Judge
from chimera.services.planner import Planner, Submission
from chimera.services.worker import Worker

#: How a task ended, as the run summary and ``--out`` name it.
OUTCOMES = ("committed", "denied", "review", "dead_lettered")


@dataclass(frozen=True)
class TaskOutcome:
    """Where one task ended, and how it got there."""

    task_id: str
    tenant: str
    session: str
    skill: str
    outcome: str
    attempts: int
    latency_ms: float
    confidence: float | None = None
    reason: str | None = None
    output: dict[str, JsonValue] | None = None

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict (one line of ``--out``)."""
        return {
            "task_id": self.task_id,
            "tenant": self.tenant,
            "session": self.session,
            "skill": self.skill,
            "outcome": self.outcome,
            "attempts": self.attempts,
            "latency_ms": round(self.latency_ms, 3),
            "confidence": self.confidence,
            "reason": self.reason,
            "output": self.output,
        }


@dataclass
class RunReport:
    """Every task's outcome, and the per-tenant, per-skill figures of the run."""

    session: str
    outcomes: dict[str, TaskOutcome] = field(default_factory=dict)
    retried: Counter[tuple[str, str]] = field(default_factory=Counter)
    duplicates: int = 0
    elapsed_s: float = 0.0

    def rows(self) -> list[dict[str, Any]]:
        """One row per tenant and skill: counts by outcome, retries, p50/p95 latency (ms)."""
        groups: dict[tuple[str, str], list[TaskOutcome]] = defaultdict(list)
        for outcome in self.outcomes.values():
            groups[(outcome.tenant, outcome.skill)].append(outcome)
        rows = []
        for (tenant, skill), items in sorted(groups.items()):
            counts = Counter(o.outcome for o in items)
            latencies = sorted(o.latency_ms for o in items)
            rows.append(
                {
                    "tenant": tenant,
                    "skill": skill,
                    "tasks": len(items),
                    **{name: counts.get(name, 0) for name in OUTCOMES},
                    "retried": self.retried.get((tenant, skill), 0),
                    "p50_ms": round(_percentile(latencies, 50), 2),
                    "p95_ms": round(_percentile(latencies, 95), 2),
                }
            )
        return rows

    def totals(self) -> dict[str, int]:
        """Tasks by outcome over the whole run."""
        counts = Counter(o.outcome for o in self.outcomes.values())
        return {"tasks": len(self.outcomes), **{name: counts.get(name, 0) for name in OUTCOMES}}

    def as_json(self) -> dict[str, Any]:
        """The machine-readable summary ``chimera run --json`` prints."""
        return {
            "session": self.session,
            "elapsed_s": round(self.elapsed_s, 3),
            "totals": {**self.totals(), "retried": sum(self.retried.values())},
            "duplicates": self.duplicates,
            "by_tenant_skill": self.rows(),
        }


def _percentile(values: Sequence[float], pct: int) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


class Orchestrator:
    """Runs a submission to completion in this process.

    Args:
        planner: validates and enqueues.
        make_worker: builds the Worker, given the dead-letter callback.
        make_judge: builds the Judge, given the outcome callback.
        progress: called with (settled, total) whenever a task settles.
    """

    def __init__(
        self,
        planner: Planner,
        make_worker: Callable[[Callable[[Delivery[Task], DeadLetter], None]], Worker],
        make_judge: Callable[[Callable[[Judged, CommitOutcome], None]], Judge],
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.planner = planner
        self.make_worker = make_worker
        self.make_judge = make_judge
        self.progress = progress

    async def run(self, submissions: Sequence[Submission], session: str | None = None) -> RunReport:
        """Submit everything, run Worker and Judge, return once every task has settled.

        Raises:
            PlanningError: a submission was invalid; nothing was enqueued.
        """
        started = asyncio.get_running_loop().time()
        tasks_by_id: dict[str, Task] = {}
        report = RunReport(session=session or "")
        settled = asyncio.Event()

        def settle(outcome: TaskOutcome) -> None:
            if outcome.task_id not in tasks_by_id or outcome.task_id in report.outcomes:
                return
            report.outcomes[outcome.task_id] = outcome
            if self.progress is not None:
                self.progress(len(report.outcomes), len(tasks_by_id))
            if len(report.outcomes) >= len(tasks_by_id):
                settled.set()

        def on_outcome(item: Judged, outcome: CommitOutcome) -> None:
            decision, task = item.decision, item.task
            if outcome is CommitOutcome.DUPLICATE:
                report.duplicates += 1
                return
            if decision is None or task is None or outcome is CommitOutcome.REJECTED:
                return
            if outcome is CommitOutcome.RETRIED:
                report.retried[(task.tenant, task.skill)] += 1
                return
            name = {
                CommitOutcome.COMMITTED: "committed",
                CommitOutcome.DENIED: "denied",
                CommitOutcome.REVIEW: "review",
            }[outcome]
            result = item.delivery.message
            output = result.output if result and decision.verdict is not Verdict.DENY else None
            settle(
                _outcome(
                    task,
                    name,
                    confidence=decision.confidence,
                    reason=decision.reason,
                    output=output,
                )
            )

        def on_dead_letter(delivery: Delivery[Task], letter: DeadLetter) -> None:
            task = delivery.message
            if task is None:
                return
            reason = f"{letter.reason}: {letter.last_error}" if letter.last_error else letter.reason
            settle(_outcome(task, "dead_lettered", reason=reason))

        submitted = await self.planner.submit(submissions, session)
        tasks_by_id.update({t.id: t for t in submitted})
        report.session = submitted[0].session if submitted else (session or "")
        if not submitted:
            return report
        stop = asyncio.Event()
        worker = self.make_worker(on_dead_letter)

        def on_retry(task: Task) -> None:
            report.retried[(task.tenant, task.skill)] += 1

        worker.on_retry = on_retry
        judge = self.make_judge(on_outcome)
        loops = [
            asyncio.create_task(worker.run(stop), name="run-worker"),
            asyncio.create_task(judge.run(stop), name="run-judge"),
        ]
        waiter = asyncio.create_task(settled.wait())
        try:
            done, _ = await asyncio.wait([waiter, *loops], return_when=asyncio.FIRST_COMPLETED)
            for loop in loops:
                if loop in done and loop.exception() is not None:
                    raise loop.exception()  # type: ignore[misc]
        finally:
            stop.set()
            waiter.cancel()
            for loop in loops:
                with contextlib.suppress(asyncio.CancelledError):
                    await loop
        report.elapsed_s = asyncio.get_running_loop().time() - started
        return report


def _outcome(task: Task, outcome: str, **details: Any) -> TaskOutcome:
    """Where ``task`` ended; its latency runs from its creation (retries keep that time)."""
    return TaskOutcome(
        task_id=task.id,
        tenant=task.tenant,
        session=task.session,
        skill=task.skill,
        outcome=outcome,
        attempts=task.attempt,
        latency_ms=_since_ms(task),
        **details,
    )


def _since_ms(task: Task) -> float:
    return (utc_now() - task.created_at).total_seconds() * 1000.0
