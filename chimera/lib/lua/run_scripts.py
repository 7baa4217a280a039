"""Typed wrapper of ``store_run.lua``: a pipeline run's new state and its ready steps' tasks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from chimera.lib.keys import TenantKeys
from chimera.lib.lua.source import load
from chimera.lib.lua.task_scripts import NewEntry
from chimera.lib.lua.wrapper import ScriptKeys, as_count
from chimera.lib.redis_lua import Call, Lua

STORE_RUN = load("store_run")


@dataclass(frozen=True)
class StoreRun(ScriptKeys):
    """``store_run.lua``: compare-and-set a run, enqueue its new tasks, keep its events."""

    SCRIPT: ClassVar[Lua] = STORE_RUN

    runs: str
    run_versions: str
    runs_active: str
    tasks: str
    ledger: str
    settled: str
    session: str
    sessions: str
    session_tasks: str
    audit_pending: str

    @classmethod
    def of(cls, keys: TenantKeys, session_id: str) -> StoreRun:
        """The keys of a run of ``session_id`` of ``keys``' tenant."""
        return cls(
            runs=keys.runs,
            run_versions=keys.run_versions,
            runs_active=keys.runs_active,
            tasks=keys.tasks,
            ledger=keys.ledger,
            settled=keys.settled,
            session=keys.session(session_id),
            sessions=keys.sessions,
            session_tasks=keys.session_tasks(session_id),
            audit_pending=keys.audit_pending,
        )

    def call(
        self,
        *,
        run_id: str,
        expected_version: int,
        run_json: str,
        active: bool,
        session_id: str,
        events: Sequence[tuple[str, str]],
        entries: Sequence[NewEntry],
    ) -> Call[int]:
        """Reply: the number of tasks enqueued, ``-1`` when the version had moved on."""
        rest = [v for event in events for v in event]
        rest += [v for e in entries for v in (e.task_id, e.task_json, e.traceparent)]
        return self._call(
            as_count,
            rest,
            run_id=run_id,
            expected_version=str(expected_version),
            run_json=run_json,
            active="1" if active else "0",
            session_id=session_id,
            event_count=len(events),
        )
