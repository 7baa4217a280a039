"""Typed wrappers of the task-stream scripts: the Planner's enqueue and the Worker's steps.

Each wrapper holds the keys of one call (build it with ``of``) and turns named, typed
arguments into a :class:`~chimera.lib.redis_lua.Call` whose reply is parsed for you. What
each script checks and does is written at the top of its ``.lua`` file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from chimera.lib.fields import AdmitReply
from chimera.lib.keys import TenantKeys
from chimera.lib.lua.source import load
from chimera.lib.lua.wrapper import (
    PendingEvent,
    ScriptKeys,
    as_count,
    as_flag,
    as_ids,
    pending_args,
)
from chimera.lib.redis_lua import Call, Lua

ENQUEUE_TASKS = load("enqueue_tasks")
PUBLISH_RESULTS = load("publish_results")
RETRY_TASK = load("retry_task")
DEAD_LETTER_TASK = load("dead_letter_task")
RELEASE_TASK = load("release_task")
PROMOTE_DUE = load("promote_due")
RENEW_LEASES = load("renew_leases")
ADMIT_TASKS = load("admit_tasks")
DISCARD_ENTRIES = load("discard_entries")


@dataclass(frozen=True)
class NewEntry:
    """One task to enqueue: its id, JSON and trace context (``""`` for none)."""

    task_id: str
    task_json: str
    traceparent: str


@dataclass(frozen=True)
class EnqueueTasks(ScriptKeys):
    """``enqueue_tasks.lua``: add one session's batch of a tenant's tasks."""

    SCRIPT: ClassVar[Lua] = ENQUEUE_TASKS

    tasks: str
    ledger: str
    session: str
    sessions: str
    session_tasks: str

    @classmethod
    def of(cls, keys: TenantKeys, session_id: str) -> EnqueueTasks:
        """The keys for ``session_id`` of ``keys``' tenant."""
        return cls(
            tasks=keys.tasks,
            ledger=keys.ledger,
            session=keys.session(session_id),
            sessions=keys.sessions,
            session_tasks=keys.session_tasks(session_id),
        )

    def call(self, *, session_id: str, entries: Sequence[NewEntry]) -> Call[list[str]]:
        """Reply: the new entry ids, in the order of ``entries``."""
        rest = [v for e in entries for v in (e.task_id, e.task_json, e.traceparent)]
        return self._call(as_ids, rest, session_id=session_id)


@dataclass(frozen=True)
class PublishResults(ScriptKeys):
    """``publish_results.lua``: publish a tenant's Results, acking the tasks they answer."""

    SCRIPT: ClassVar[Lua] = PUBLISH_RESULTS

    tasks: str
    results: str

    @classmethod
    def of(cls, keys: TenantKeys) -> PublishResults:
        """The keys of ``keys``' tenant."""
        return cls(tasks=keys.tasks, results=keys.results)

    def call(self, *, group: str, answers: Sequence[tuple[str, str, str]]) -> Call[int]:
        """``answers``: (task entry id, Result JSON, traceparent or ``""``) per Result.

        Reply: how many were published.
        """
        rest = [v for answer in answers for v in answer]
        return self._call(as_count, rest, group=group)


@dataclass(frozen=True)
class RetryTask(ScriptKeys):
    """``retry_task.lua``: ack a task entry and schedule the task's next attempt."""

    SCRIPT: ClassVar[Lua] = RETRY_TASK

    tasks: str
    ledger: str
    settled: str
    review: str
    delayed: str
    delayed_traces: str
    session: str
    audit_pending: str

    @classmethod
    def of(cls, keys: TenantKeys, session_id: str) -> RetryTask:
        """The keys of a task of ``session_id``."""
        return cls(
            tasks=keys.tasks,
            ledger=keys.ledger,
            settled=keys.settled,
            review=keys.review,
            delayed=keys.delayed,
            delayed_traces=keys.delayed_traces,
            session=keys.session(session_id),
            audit_pending=keys.audit_pending,
        )

    def call(
        self,
        *,
        group: str,
        entry_id: str,
        task_id: str,
        next_json: str,
        due: float,
        count_retry: bool,
        event: PendingEvent = None,
        traceparent: str = "",
    ) -> Call[bool]:
        """Reply: whether the next attempt was scheduled (and ``event`` kept with it).

        ``traceparent``: the trace context the next attempt's entry will carry (``""``: none).
        """
        event_id, event_json = pending_args(event)
        return self._call(
            as_flag,
            group=group,
            entry_id=entry_id,
            task_id=task_id,
            next_json=next_json,
            due=due,
            count_retry="1" if count_retry else "0",
            event_id=event_id,
            event_json=event_json,
            traceparent=traceparent,
        )


@dataclass(frozen=True)
class DeadLetterTask(ScriptKeys):
    """``dead_letter_task.lua``: ack a task entry and move it to the dead-letter stream."""

    SCRIPT: ClassVar[Lua] = DEAD_LETTER_TASK

    tasks: str
    ledger: str
    settled: str
    review: str
    dlq: str
    session: str
    audit_pending: str

    @classmethod
    def of(cls, keys: TenantKeys, session_id: str) -> DeadLetterTask:
        """The keys of a task of ``session_id`` (``fields.UNKNOWN_SESSION`` if undecodable)."""
        return cls(
            tasks=keys.tasks,
            ledger=keys.ledger,
            settled=keys.settled,
            review=keys.review,
            dlq=keys.dlq,
            session=keys.session(session_id),
            audit_pending=keys.audit_pending,
        )

    def call(
        self,
        *,
        group: str,
        entry_id: str,
        task_id: str,
        letter_json: str,
        event: PendingEvent = None,
        traceparent: str = "",
    ) -> Call[bool]:
        """``task_id``: ``""`` for an undecodable entry. Reply: whether it was dead-lettered.

        ``traceparent``: the trace context the dead letter keeps for a replay (``""``: none).
        """
        event_id, event_json = pending_args(event)
        return self._call(
            as_flag,
            group=group,
            entry_id=entry_id,
            task_id=task_id,
            letter_json=letter_json,
            event_id=event_id,
            event_json=event_json,
            traceparent=traceparent,
        )


@dataclass(frozen=True)
class ReleaseTask(ScriptKeys):
    """``release_task.lua``: hand an unfinished task back as a fresh entry."""

    SCRIPT: ClassVar[Lua] = RELEASE_TASK

    tasks: str

    @classmethod
    def of(cls, keys: TenantKeys) -> ReleaseTask:
        """The keys of ``keys``' tenant."""
        return cls(tasks=keys.tasks)

    def call(self, *, group: str, entry_id: str, body: str, traceparent: str = "") -> Call[bool]:
        """Reply: whether the entry was still pending and was handed back.

        ``traceparent``: the trace context the fresh entry carries (``""``: none).
        """
        return self._call(
            as_flag, group=group, entry_id=entry_id, body=body, traceparent=traceparent
        )


@dataclass(frozen=True)
class PromoteDue(ScriptKeys):
    """``promote_due.lua``: move due delayed tasks back into the task stream."""

    SCRIPT: ClassVar[Lua] = PROMOTE_DUE

    tasks: str
    delayed: str
    delayed_traces: str

    @classmethod
    def of(cls, keys: TenantKeys) -> PromoteDue:
        """The keys of ``keys``' tenant."""
        return cls(tasks=keys.tasks, delayed=keys.delayed, delayed_traces=keys.delayed_traces)

    def call(self, *, now: float, limit: int) -> Call[int]:
        """Reply: how many tasks were moved."""
        return self._call(as_count, now=now, limit=limit)


@dataclass(frozen=True)
class RenewLeases(ScriptKeys):
    """``renew_leases.lua``: reset the idle time of the entries a consumer still owns."""

    SCRIPT: ClassVar[Lua] = RENEW_LEASES

    stream: str

    @classmethod
    def of(cls, keys: TenantKeys) -> RenewLeases:
        """For the task stream of ``keys``' tenant."""
        return cls(stream=keys.tasks)

    @classmethod
    def of_results(cls, keys: TenantKeys) -> RenewLeases:
        """For the result stream of ``keys``' tenant (the Judge's leases)."""
        return cls(stream=keys.results)

    def call(self, *, group: str, consumer: str, entry_ids: Sequence[str]) -> Call[list[str]]:
        """Reply: the ids of ``entry_ids`` still owned by ``consumer``."""
        return self._call(as_ids, entry_ids, group=group, consumer=consumer)


@dataclass(frozen=True)
class AdmitTasks(ScriptKeys):
    """``admit_tasks.lua``: whether to run each task entry of one session just read."""

    SCRIPT: ClassVar[Lua] = ADMIT_TASKS

    ledger: str
    settled: str
    review: str
    session: str

    @classmethod
    def of(cls, keys: TenantKeys, session_id: str) -> AdmitTasks:
        """The keys of a task of ``session_id``."""
        return cls(
            ledger=keys.ledger,
            settled=keys.settled,
            review=keys.review,
            session=keys.session(session_id),
        )

    def call(self, *, entries: Sequence[tuple[str, str]]) -> Call[list[AdmitReply]]:
        """``entries``: (task id, entry body) pairs. Reply: one answer per entry."""
        rest = [v for pair in entries for v in pair]
        return self._call(as_admit_replies, rest)


@dataclass(frozen=True)
class DiscardEntries(ScriptKeys):
    """``discard_entries.lua``: ack and delete entries that need nothing else."""

    SCRIPT: ClassVar[Lua] = DISCARD_ENTRIES

    stream: str

    @classmethod
    def of(cls, keys: TenantKeys) -> DiscardEntries:
        """For the task stream of ``keys``' tenant."""
        return cls(stream=keys.tasks)

    def call(self, *, group: str, entry_ids: Sequence[str]) -> Call[list[str]]:
        """Reply: the ids that were still pending, and are now gone."""
        return self._call(as_ids, entry_ids, group=group)


def as_admit_replies(reply: Any) -> list[AdmitReply]:
    """A list of ``ADMIT_TASKS`` answers."""
    return [AdmitReply(str(item)) for item in reply]
