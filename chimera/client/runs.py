"""The pipeline part of the Python client: start runs, look at them, wait for them, cancel."""

from __future__ import annotations

import asyncio
import builtins
import time
from collections.abc import Callable

from chimera.config.swarm import Swarm
from chimera.models.pipeline import PipelineRun, RunState, StepState
from chimera.models.types import JsonObject
from chimera.ports.runs import RunStore
from chimera.services.cancel import CancelService
from chimera.services.errors import RequestError
from chimera.services.pipeline.keeper import RunKeeper

_FINISHED = (RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED)


class NoSuchRun(RequestError):
    """No tenant (or not the one named) has a run by this id."""


class RunsClient:
    """Pipeline runs: ``start``, ``get``, ``list``, ``wait``, ``cancel``.

    Reach it as ``client.runs``. A run's steps are ordinary tasks (Workers run them, the
    Judge commits them); their run advances as each settles.
    """

    def __init__(
        self,
        swarm: Swarm,
        keeper: Callable[[], RunKeeper],
        cancel: Callable[[], CancelService],
        actor: str,
    ) -> None:
        self._swarm = swarm
        self._keeper = keeper
        self._cancel = cancel
        self._actor = actor

    def _store(self) -> RunStore:
        return self._keeper().runs

    async def start(
        self, tenant: str, pipeline: str, input: JsonObject, *, session: str | None = None
    ) -> PipelineRun:
        """Start a run of ``pipeline``: its root steps are enqueued with it, atomically.

        Raises:
            RunError: unknown pipeline, a tenant not allowed every step's skill, or an
                input that breaks the pipeline's ``input_schema``.
        """
        return await self._keeper().start(tenant, pipeline, input, session)

    async def get(self, run_id: str, *, tenant: str | None = None) -> PipelineRun:
        """The run as stored now.

        Raises:
            NoSuchRun: no run by that id (in ``tenant``, when given).
        """
        for name in [tenant] if tenant else self._swarm.tenants:
            found = (await self._store().load(name, [run_id])).get(run_id)
            if found is not None:
                return found.run
        raise NoSuchRun(f"no pipeline run {run_id}" + (f" for tenant {tenant!r}" if tenant else ""))

    async def list(self, *, tenant: str | None = None) -> builtins.list[PipelineRun]:
        """Every kept run (of ``tenant``, when given), oldest first."""
        runs = []
        for name in [tenant] if tenant else self._swarm.tenants:
            runs += [stored.run for stored in await self._store().all(name)]
        return sorted(runs, key=lambda run: run.id)

    async def wait(
        self, run_id: str, *, tenant: str | None = None, timeout_s: float | None = None
    ) -> PipelineRun:
        """Wait until the run succeeded, failed or was cancelled (or ``timeout_s`` passed).

        Returns:
            The run as it stands when done waiting: check ``state``.
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        pause = 0.05
        while True:
            run = await self.get(run_id, tenant=tenant)
            if run.state in _FINISHED or (deadline is not None and time.monotonic() > deadline):
                return run
            await asyncio.sleep(pause)
            pause = min(pause * 1.5, 1.0)

    async def cancel(
        self, run_id: str, *, tenant: str | None = None, reason: str | None = None
    ) -> PipelineRun:
        """Cancel a run: pending steps never start, its unsettled tasks are cancelled.

        Returns:
            The run as it now stands, with the tasks this cancelled recorded as such.

        Raises:
            NoSuchRun: no run by that id.
        """
        run = await self.get(run_id, tenant=tenant)
        why = reason or f"cancelled by {self._actor}"
        cancelled = await self._keeper().cancel(run.tenant, run.id, why) or run
        open_ids = [
            task.task_id
            for step in cancelled.steps.values()
            for task in step.tasks
            if task.state in (StepState.RUNNING, StepState.REVIEW)
        ]
        if not open_ids:
            return cancelled
        await self._cancel().cancel_tasks(open_ids, self._actor, why, run.tenant)
        # Record the tasks just cancelled in the run (it left the sweep's set when it
        # finished, so nobody else would).
        advanced = await self._keeper().advance(run.tenant, [run.id])
        return advanced[0] if advanced else cancelled
