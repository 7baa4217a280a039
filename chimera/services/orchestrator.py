"""The orchestrator: Planner → queue → Worker → Judge in one process, until every task settles.

``chimera run`` uses it. It submits, runs a Worker and a Judge on one event loop, and
follows each submitted task to its outcome: committed, denied, parked for review, or
dead-lettered. It makes no external calls of its own; backends do.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from chimera.lib.logging import get_logger
from chimera.models.config import PricingConfig
from chimera.models.decision import Verdict
from chimera.models.result import Result
from chimera.models.task import Task
from chimera.models.types import utc_now
from chimera.ports.judge import CommitOutcome, Judged
from chimera.ports.queue import DeadLetter, Delivery
from chimera.ports.stores import TaskState, TaskStatus, TaskStatusStore
from chimera.services.judge import Judge
from chimera.services.pipeline.tracker import RunTracker
from chimera.services.planner import Planner, Submission
from chimera.services.run_report import OUTCOMES, RunReport, TaskOutcome
from chimera.services.usage import UsageTally
from chimera.services.worker import Worker

log = get_logger("chimera.run")

__all__ = ["OUTCOMES", "Orchestrator", "RunReport", "TaskOutcome"]


class Orchestrator:
    """Runs a submission to completion in this process.

    Args:
        planner: validates and enqueues.
        make_worker: builds the Worker, given the dead-letter callback.
        make_judge: builds the Judge, given the outcome callback.
        progress: called with (settled, total) whenever a task settles.
        states: looks tasks up by id, so that a task another process (a ``chimera worker``
            on the same Redis) settled is seen too; ``None`` when this process is alone
            (the embedded Redis).
        poll_s: how often to look.
        usage: the tally the Worker's metrics feed (its tokens go into the report).
        pricing: the swarm's prices, for the report's cost figures.
        runs: the pipeline runs to start and follow until they are at rest.
    """

    def __init__(
        self,
        planner: Planner,
        make_worker: Callable[[Callable[[Delivery[Task], DeadLetter], None]], Worker],
        make_judge: Callable[[Callable[[Judged, CommitOutcome], None]], Judge],
        progress: Callable[[int, int], None] | None = None,
        states: TaskStatusStore | None = None,
        poll_s: float = 0.5,
        usage: UsageTally | None = None,
        pricing: PricingConfig | None = None,
        runs: RunTracker | None = None,
    ) -> None:
        self.planner = planner
        self.runs = runs
        self.make_worker = make_worker
        self.make_judge = make_judge
        self.progress = progress
        self.states = states
        self.poll_s = poll_s
        self.usage = usage
        self.pricing = pricing or PricingConfig()

    async def run(self, submissions: Sequence[Submission], session: str | None = None) -> RunReport:
        """Submit everything, run Worker and Judge, return once every task has settled.

        Raises:
            PlanningError: a submission was invalid; nothing was enqueued.
        """
        started = asyncio.get_running_loop().time()
        tasks_by_id: dict[str, Task] = {}
        report = RunReport(session=session or "", pricing=self.pricing)
        settled = asyncio.Event()
        runs_at_rest = self.runs is None

        def check_done() -> None:
            if runs_at_rest and len(report.outcomes) >= len(tasks_by_id):
                settled.set()

        def settle(outcome: TaskOutcome) -> None:
            if outcome.task_id not in tasks_by_id or outcome.task_id in report.outcomes:
                return
            report.outcomes[outcome.task_id] = outcome
            if self.progress is not None:
                self.progress(len(report.outcomes), len(tasks_by_id))
            check_done()

        def adopt(task: Task | None) -> None:
            # A step of one of our runs: the keeper enqueued it, so it joins the report.
            if task is not None and self.runs is not None and self.runs.owns(task):
                tasks_by_id.setdefault(task.id, task)

        def on_outcome(item: Judged, outcome: CommitOutcome) -> None:
            decision, task = item.decision, item.task
            adopt(task)
            if outcome is CommitOutcome.DUPLICATE:
                report.duplicates += 1
                return
            if outcome is CommitOutcome.CANCELLED:
                dropped = item.delivery.message
                if dropped is not None and dropped.task_id in tasks_by_id:
                    reason = "cancelled; its Result was dropped"
                    settle(_outcome(tasks_by_id[dropped.task_id], "cancelled", reason=reason))
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
            # A denied output is not shown: the policy may have denied it for what it leaks
            # (a secret); why it was denied is in the reason.
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
            adopt(task)
            reason = f"{letter.reason}: {letter.last_error}" if letter.last_error else letter.reason
            settle(_outcome(task, "dead_lettered", reason=reason))

        submitted = await self.planner.submit(submissions, session) if submissions else []
        tasks_by_id.update({t.id: t for t in submitted})
        report.session = submitted[0].session if submitted else (session or "")
        if self.runs is not None:
            started_runs = await self.runs.start(report.session or session)
            report.session = report.session or (started_runs[0].session if started_runs else "")
        if not submitted and (self.runs is None or not self.runs.runs):
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
        if self.states is not None:
            watch = self._watch(self.states, tasks_by_id, report, settle, stop)
            loops.append(asyncio.create_task(watch, name="run-watch"))
        if self.runs is not None:
            tracker = self.runs

            async def follow_runs() -> None:
                nonlocal runs_at_rest
                while not stop.is_set():
                    runs_at_rest = await tracker.refresh()
                    check_done()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(0.1):
                            await stop.wait()

            loops.append(asyncio.create_task(follow_runs(), name="run-runs"))
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
        if self.runs is not None:
            report.runs = list(self.runs.runs.values())
        if self.usage is not None:
            report.usage = dict(self.usage.tokens)
        return report

    async def _watch(
        self,
        states: TaskStatusStore,
        tasks: dict[str, Task],
        report: RunReport,
        settle: Callable[[TaskOutcome], None],
        stop: asyncio.Event,
    ) -> None:
        """Settle tasks that other processes took to an outcome (this Worker never saw them)."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_s):
                    await stop.wait()
            waiting: dict[str, list[str]] = defaultdict(list)
            for task_id, task in tasks.items():
                if task_id not in report.outcomes:
                    waiting[task.tenant].append(task_id)
            for tenant, ids in waiting.items():
                try:
                    found = await states.settled(tenant, ids)
                except Exception as exc:  # the next look may work; the callbacks go on anyway
                    log.warning(
                        "run.watch_failed", error=repr(exc), next=f"again in {self.poll_s}s"
                    )
                    break
                for task_id, status in found.items():
                    settle(_from_status(tasks[task_id], status))


def _from_status(task: Task, status: TaskStatus) -> TaskOutcome:
    """The outcome of a task another process settled, from what the stores keep."""
    result = status.result
    if status.state is TaskState.COMMITTED and result is not None:
        return _outcome(
            task,
            "committed",
            confidence=result.confidence,
            output=result.output,
            attempts_of=result,
        )
    if status.state is TaskState.REVIEW:
        reason = status.decision.reason if status.decision is not None else None
        confidence = result.confidence if result is not None else None
        return _outcome(task, "review", confidence=confidence, reason=reason, attempts_of=result)
    reason = {
        TaskState.DENIED: "denied (see `chimera audit` for the Judge's reason)",
        TaskState.DEAD_LETTERED: "dead-lettered (see `chimera dlq list`)",
        TaskState.CANCELLED: _cancel_reason(status),
    }.get(status.state)
    return _outcome(task, status.state.value, reason=reason)


def _cancel_reason(status: TaskStatus) -> str:
    note = status.cancellation
    if note is None:
        return "cancelled"
    return f"cancelled by {note.actor}" + (f": {note.reason}" if note.reason else "")


def _outcome(
    task: Task, outcome: str, attempts_of: Result | None = None, **details: Any
) -> TaskOutcome:
    """Where ``task`` ended; its latency runs from its creation (retries keep that time)."""
    return TaskOutcome(
        task_id=task.id,
        tenant=task.tenant,
        session=task.session,
        skill=task.skill,
        outcome=outcome,
        attempts=attempts_of.attempt if attempts_of is not None else task.attempt,
        latency_ms=_since_ms(task),
        **details,
    )


def _since_ms(task: Task) -> float:
    return (utc_now() - task.created_at).total_seconds() * 1000.0
