"""Typed wrapper of ``park_for_review.lua``: a task's tool calls wait for a human."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from chimera.lib.keys import TenantKeys
from chimera.lib.lua.source import load
from chimera.lib.lua.wrapper import PendingEvent, ScriptKeys, as_flag, pending_args
from chimera.lib.redis_lua import Call, Lua

PARK_FOR_REVIEW = load("park_for_review")


@dataclass(frozen=True)
class ParkForReview(ScriptKeys):
    """``park_for_review.lua``: ack a task entry and park the task for a human's review."""

    SCRIPT: ClassVar[Lua] = PARK_FOR_REVIEW

    tasks: str
    ledger: str
    settled: str
    review: str
    session: str
    audit_pending: str

    @classmethod
    def of(cls, keys: TenantKeys, session_id: str) -> ParkForReview:
        """The keys of a task of ``session_id``."""
        return cls(
            tasks=keys.tasks,
            ledger=keys.ledger,
            settled=keys.settled,
            review=keys.review,
            session=keys.session(session_id),
            audit_pending=keys.audit_pending,
        )

    def call(
        self,
        *,
        group: str,
        entry_id: str,
        task_id: str,
        item_json: str,
        event: PendingEvent = None,
    ) -> Call[bool]:
        """Reply: whether the task was parked (and ``event`` kept with it)."""
        event_id, event_json = pending_args(event)
        return self._call(
            as_flag,
            group=group,
            entry_id=entry_id,
            task_id=task_id,
            item_json=item_json,
            event_id=event_id,
            event_json=event_json,
        )
