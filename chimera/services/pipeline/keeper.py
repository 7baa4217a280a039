"""Runs pipelines: starts runs, and brings each run in line with what became of its tasks.

Level-triggered, as a controller: a run is advanced from the durable facts about its
tasks (committed, denied, dead-lettered, in review, cancelled: the same hashes the Judge,
the Workers and the review commands write), never from a message that could be lost. Each
advance is one compare-and-set write of the run together with the tasks of the steps that
became ready (``store_run.lua``), so:

- a crash between a task settling and its run advancing loses nothing: the next advance
  (the Judge's right after its commit, or the sweep every few seconds) sees the same facts;
- two processes advancing the same run never both win: the loser reads again;
- a step is never enqueued twice: its task ids are deterministic and the script skips an
  id it has seen.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from chimera.config.compiled_pipeline import CompiledPipeline
from chimera.config.swarm import Swarm
from chimera.lib.logging import get_logger
from chimera.models.audit import AuditEvent
from chimera.models.pipeline import PipelineRun
from chimera.models.task import Task
from chimera.models.types import JsonObject, new_id
from chimera.ports.audit import PendingAudit
from chimera.ports.judge import AuditLogger
from chimera.ports.runs import RunStore, RunWrite, StoredRun
from chimera.ports.session import SessionStore
from chimera.ports.stores import TaskStatusStore
from chimera.services.audit_handover import hand_over
from chimera.services.errors import RequestError
from chimera.services.pipeline import (
    Advance,
    RunStateError,
    advance,
    cancel_run,
    new_run,
)
from chimera.services.pipeline.observe import RunFacts, finished, observe, open_tasks
from chimera.services.pipeline.run_events import run_finished, run_started, step_enqueued
from chimera.services.planner import submitted_event
from chimera.telemetry.run_spans import run_span

log = get_logger("chimera.pipeline")

#: Writes of one run tried in a row before the sweep is left to finish it.
_ATTEMPTS = 8
#: Runs written at once by one advance (each write is one script call).
_PARALLEL_WRITES = 16
#: Runs read at once by the sweep.
_SWEEP_SLICE = 200


class RunError(RequestError):
    """A run that cannot start: unknown pipeline, a tenant not allowed it, a bad input."""


class RunKeeper:
    """Starts pipeline runs and advances them.

    Args:
        swarm: the pipelines and skills.
        runs: where runs are stored.
        statuses: what became of each task.
        sessions: halted sessions halt their runs (``None``: not checked).
        audit: receives the run events once stored (``None``: they stay pending for a sweep).
        pending: clears the pending events the sinks took.
        actor: recorded as who advanced a run.
    """

    def __init__(
        self,
        swarm: Swarm,
        runs: RunStore,
        statuses: TaskStatusStore,
        sessions: SessionStore | None = None,
        audit: AuditLogger | None = None,
        pending: PendingAudit | None = None,
        actor: str = "chimera",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.swarm = swarm
        self.runs = runs
        self.statuses = statuses
        self.sessions = sessions
        self.audit = audit
        self.pending = pending
        self.actor = actor
        self.clock = clock

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def pipeline(self, name: str) -> CompiledPipeline:
        """The compiled pipeline ``name``.

        Raises:
            RunError: no such pipeline.
        """
        compiled = self.swarm.pipelines.get(name)
        if compiled is None:
            raise RunError(f"unknown pipeline {name!r}")
        return compiled

    async def start(
        self,
        tenant: str,
        pipeline: str,
        input: JsonObject,
        session: str | None = None,
        run_id: str | None = None,
        traceparent: str | None = None,
        trace_id: str | None = None,
    ) -> PipelineRun:
        """Start a run: store it with its root steps' tasks in one write.

        Raises:
            RunError: unknown pipeline, a tenant not allowed every step's skill, or an
                input that breaks the pipeline's ``input_schema``.
        """
        compiled = self.pipeline(pipeline)
        if not self.swarm.tenant_may_run_pipeline(tenant, pipeline):
            raise RunError(f"tenant {tenant!r} may not run pipeline {pipeline!r}")
        session_id = session or new_id()
        if self.sessions is not None:
            await self.sessions.open(tenant, session_id)
        run_id = run_id or new_id()
        traced = run_span(pipeline, run_id, tenant, session_id)
        if traced is not None and traceparent is None:
            trace_id, traceparent = traced
        try:
            run = new_run(
                compiled,
                run_id=run_id,
                tenant=tenant,
                session=session_id,
                input=input,
                at=self._now(),
                trace_id=trace_id,
            )
        except RunStateError as exc:
            raise RunError(str(exc)) from None
        if traceparent is not None:
            run = run.model_copy(update={"traceparent": traceparent})
        moved = advance(compiled, run, at=self._now())
        events = [run_started(run, self.actor)]
        await self._store(compiled, run, moved, 0, events)
        return moved.run

    async def advance(
        self, tenant: str, run_ids: Sequence[str], reasons: Mapping[str, str] | None = None
    ) -> list[PipelineRun]:
        """Bring each run in line with its tasks and enqueue the steps that became ready.

        The runs go together: one read of the runs, one of their tasks' outcomes, one of
        their sessions, then the writes of those that changed side by side; a run whose
        write lost to another process is read again.

        Args:
            tenant: whose runs.
            run_ids: the runs to look at.
            reasons: task id → why it was denied, when the caller knows (the Judge).
        """
        wanted = list(dict.fromkeys(run_ids))
        done: dict[str, PipelineRun] = {}
        for _ in range(_ATTEMPTS):
            if not wanted:
                break
            wanted = await self._advance_batch(tenant, wanted, reasons or {}, done)
        if wanted:
            log.info("pipeline.contended", runs=wanted[:5], why="left to the next sweep")
        return [done[run_id] for run_id in dict.fromkeys(run_ids) if run_id in done]

    async def sweep(self, tenants: Sequence[str]) -> int:
        """Advance every unfinished run of ``tenants``; returns how many were looked at."""
        seen = 0
        for tenant in tenants:
            ids = await self.runs.active(tenant)
            seen += len(ids)
            # In slices, so one sweep of many runs never holds one huge read in memory.
            for first in range(0, len(ids), _SWEEP_SLICE):
                await self.advance(tenant, ids[first : first + _SWEEP_SLICE])
        return seen

    async def cancel(self, tenant: str, run_id: str, reason: str) -> PipelineRun | None:
        """Cancel a run: its pending steps never start (the caller cancels running tasks).

        Returns:
            The run as it now stands, or ``None`` when there is no such run.
        """
        for _ in range(_ATTEMPTS):
            stored = (await self.runs.load(tenant, [run_id])).get(run_id)
            if stored is None:
                return None
            compiled = self.pipeline(stored.run.pipeline)
            cancelled = cancel_run(compiled, stored.run, at=self._now(), reason=reason)
            if cancelled == stored.run:
                return cancelled
            moved = Advance(cancelled, [])
            if await self._store(compiled, stored.run, moved, stored.version, []):
                return cancelled
        return None

    async def _advance_batch(
        self,
        tenant: str,
        run_ids: list[str],
        reasons: Mapping[str, str],
        done: dict[str, PipelineRun],
    ) -> list[str]:
        """Advance ``run_ids`` once, recording each in ``done``; returns the ids that lost."""
        loaded = await self.runs.load(tenant, run_ids)
        known: list[tuple[CompiledPipeline, StoredRun]] = []
        for run_id, stored in loaded.items():
            compiled = self.swarm.pipelines.get(stored.run.pipeline)
            if compiled is None:
                log.warning("pipeline.unknown", run_id=run_id, pipeline=stored.run.pipeline)
                done[run_id] = stored.run
            else:
                known.append((compiled, stored))
        facts = await self._facts(tenant, [stored.run for _, stored in known])
        writes: list[tuple[CompiledPipeline, StoredRun, Advance]] = []
        for compiled, stored in known:
            run = observe(compiled, stored.run, reasons, facts, self._now())
            moved = advance(compiled, run, at=self._now())
            if moved.run == stored.run:
                done[stored.run.id] = stored.run
            else:
                writes.append((compiled, stored, moved))
        gate = asyncio.Semaphore(_PARALLEL_WRITES)

        async def write(
            compiled: CompiledPipeline, stored: StoredRun, moved: Advance
        ) -> list[AuditEvent] | None:
            async with gate:
                return await self._write(compiled, stored.run, moved, stored.version, [])

        written = await asyncio.gather(*(write(*item) for item in writes))
        lost, events = [], []
        for (_, stored, moved), kept in zip(writes, written, strict=True):
            if kept is None:
                lost.append(stored.run.id)
            else:
                done[stored.run.id] = moved.run
                events += kept
        # One hand-over to the sinks for the whole batch (they append in one call).
        await self._report(events)
        return lost

    async def _facts(self, tenant: str, runs: list[PipelineRun]) -> RunFacts:
        """What became of the open tasks of ``runs``, and which of their sessions halted."""
        open_ids = [task_id for run in runs for task_id in open_tasks(run)]
        statuses = await self.statuses.settled(tenant, open_ids) if open_ids else {}
        halted: set[tuple[str, str]] | None = None
        if self.sessions is not None:
            pairs = [(run.tenant, run.session) for run in runs if not finished(run)]
            halted = await self.sessions.halted(pairs) if pairs else set()
        return RunFacts(statuses, halted)

    async def _store(
        self,
        compiled: CompiledPipeline,
        before: PipelineRun,
        moved: Advance,
        version: int,
        events: list[AuditEvent],
    ) -> bool:
        """Write the run (see :meth:`_write`) and hand its events to the sinks."""
        stored = await self._write(compiled, before, moved, version, events)
        if stored is None:
            return False
        await self._report(stored)
        return True

    async def _write(
        self,
        compiled: CompiledPipeline,
        before: PipelineRun,
        moved: Advance,
        version: int,
        events: list[AuditEvent],
    ) -> list[AuditEvent] | None:
        """Compare-and-set the run with its ready tasks; the events kept, or None if it lost."""
        run = moved.run
        tasks = [
            Task(
                id=task_id,
                tenant=run.tenant,
                session=run.session,
                skill=ready.skill,
                input=item_input,
                max_attempts=self.swarm.skill(ready.skill).config.retry.max_attempts,
                skill_fingerprint=self.swarm.skill(ready.skill).fingerprint,
                trace_id=run.trace_id,
                run=run.id,
                step=ready.step,
            )
            for ready in moved.enqueue
            for task_id, item_input in zip(ready.task_ids, ready.inputs, strict=True)
        ]
        events = [*events, *(step_enqueued(run, ready, self.actor) for ready in moved.enqueue)]
        # Each step task's story starts as any task's does: its input, its run and step.
        events += [submitted_event(task) for task in tasks]
        finished = run_finished(before, run, self.actor)
        if finished is not None:
            events.append(finished)
        parents = [run.traceparent] * len(tasks)
        change = RunWrite(run, version, tasks, parents, events)
        if await self.runs.write(change) is None:
            return None
        return events

    async def _report(self, events: list[AuditEvent]) -> None:
        await hand_over(events, self.audit, self.pending, "pipeline.audit_deferred")
