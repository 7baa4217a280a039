"""Redis adapter of the pipeline-run store: a hash of run JSON, a hash of versions, a set."""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as aioredis
from pydantic import ValidationError

from chimera.lib.keys import Keyspace
from chimera.lib.logging import get_logger
from chimera.lib.lua.run_scripts import StoreRun
from chimera.lib.lua.task_scripts import NewEntry
from chimera.lib.redis_lua import LuaBatch
from chimera.models.pipeline import PipelineRun, StepState
from chimera.ports.runs import RunWrite, StoredRun

log = get_logger("chimera.runs")


class RedisRunStore:
    """Implements :class:`~chimera.ports.runs.RunStore` with the ``STORE_RUN`` script."""

    def __init__(self, client: aioredis.Redis, keyspace: Keyspace | None = None) -> None:
        self.client = client
        self.keys = keyspace or Keyspace()
        self._lua = LuaBatch(client)

    async def write(self, change: RunWrite) -> int | None:
        """Compare-and-set the run and enqueue its new tasks in one script call."""
        run = change.run
        parents = list(change.traceparents) or [None] * len(change.tasks)
        entries = [
            NewEntry(task.id, task.model_dump_json(), parent or "")
            for task, parent in zip(change.tasks, parents, strict=True)
        ]
        call = StoreRun.of(self.keys.tenant(run.tenant), run.session).call(
            run_id=run.id,
            expected_version=change.expected_version,
            run_json=run.model_dump_json(),
            active=_watched(run),
            session_id=run.session,
            events=[(event.id, event.model_dump_json()) for event in change.events],
            entries=entries,
        )
        added = await self._lua.run_one(call)
        return None if added < 0 else added

    async def load(self, tenant: str, run_ids: Sequence[str]) -> dict[str, StoredRun]:
        """Read the runs and their versions in one transaction (one consistent snapshot)."""
        ids = list(dict.fromkeys(run_ids))
        if not ids:
            return {}
        keys = self.keys.tenant(tenant)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hmget(keys.runs, ids)
            pipe.hmget(keys.run_versions, ids)
            bodies, versions = await pipe.execute()
        out: dict[str, StoredRun] = {}
        for run_id, body, version in zip(ids, bodies, versions, strict=True):
            stored = _parse(run_id, body, version)
            if stored is not None:
                out[run_id] = stored
        return out

    async def active(self, tenant: str) -> list[str]:
        """The ids in the tenant's active-run set, sorted (oldest ULID first).

        The set holds the unfinished runs and the finished ones with tasks still open.
        """
        members = await self.client.smembers(self.keys.tenant(tenant).runs_active)
        return sorted(str(member) for member in members)

    async def all(self, tenant: str) -> list[StoredRun]:
        """Every stored run of the tenant, oldest first."""
        keys = self.keys.tenant(tenant)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hgetall(keys.runs)
            pipe.hgetall(keys.run_versions)
            bodies, versions = await pipe.execute()
        runs = (_parse(run_id, body, versions.get(run_id)) for run_id, body in bodies.items())
        return sorted((r for r in runs if r is not None), key=lambda r: r.run.id)


def _parse(run_id: str, body: str | None, version: str | None) -> StoredRun | None:
    if body is None:
        return None
    try:
        return StoredRun(PipelineRun.model_validate_json(body), int(version or 0))
    except (ValidationError, ValueError) as exc:
        # A run nobody can read cannot be advanced; say so rather than stall silently.
        log.error("runs.unreadable", run_id=run_id, error=str(exc)[:300])
        return None


def _watched(run: PipelineRun) -> bool:
    """Whether the sweep still looks at ``run``: unfinished, or with tasks still open.

    A failed run lets its independent branches finish, and one of them may wait for a
    human; nothing but the sweep would record that task's end in the run.
    """
    if run.state.value not in ("succeeded", "failed", "cancelled"):
        return True
    return any(
        task.state in (StepState.RUNNING, StepState.REVIEW)
        for step in run.steps.values()
        for task in step.tasks
    )
