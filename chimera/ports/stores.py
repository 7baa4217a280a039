"""Ports for what operators look at and act on: review items, dead letters, committed results."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from chimera.models.audit import AuditEvent
from chimera.models.decision import Decision
from chimera.models.result import Result
from chimera.models.task import Task
from chimera.ports.judge import OutcomeEvents


@dataclass(frozen=True)
class ReviewItem:
    """A Result waiting for a human, with its Task and the Judge's decision.

    ``details`` holds whatever else the stored item carries (the proposed calls of a
    sensitive tool call, say), by name, for a reviewer to see.
    """

    task: Task
    result: Result
    decision: Decision
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DeadLetterEntry:
    """A dead-lettered task as stored: why, after how many attempts, with what error."""

    entry_id: str
    tenant: str
    task: Task | None
    reason: str
    attempts: int
    last_error: str | None
    raw: dict[str, Any]


class ReviewStore(Protocol):
    """Results parked for a human. All methods are ``async``; items survive restarts."""

    async def list(self, tenant: str) -> list[ReviewItem]:
        """Every item waiting in ``tenant``'s queue."""
        ...

    async def decide(
        self, tenant: str, item: ReviewItem, approve: bool, events: OutcomeEvents | None = None
    ) -> str:
        """Commit (``approve``) or deny the item atomically.

        ``events``, when given, are kept as the audit event of what happened (the
        decision's outcome, or a duplicate) in the same atomic step.

        Returns:
            ``committed``, ``denied``, ``duplicate`` or ``missing`` (someone else decided).
        """
        ...

    async def retry(
        self, tenant: str, item: ReviewItem, next_task: Task, event: AuditEvent | None = None
    ) -> str:
        """Send the item back: ``next_task`` (its next attempt) is queued at once, atomically.

        ``event``, when given, is kept as the audit event of the retry in the same step.

        Returns:
            ``retried``, or ``missing`` (someone else decided first; nothing changed).
        """
        ...

    async def resume(
        self, tenant: str, item: ReviewItem, resumed: Task, event: AuditEvent | None = None
    ) -> str:
        """Send a task whose tool calls a human answered back to run, atomically.

        ``resumed`` carries the conversation and the answer (``Task.resume``); it goes on as
        the same attempt, so no retry is counted. ``event`` is kept as its audit event.

        Returns:
            ``retried`` (queued), or ``missing`` (someone else decided first).
        """
        ...


class DeadLetterStore(Protocol):
    """Dead-lettered tasks. All methods are ``async``."""

    async def list(self, tenant: str) -> list[DeadLetterEntry]:
        """Every dead letter of ``tenant``, oldest first."""
        ...

    async def replay(self, tenant: str, entry: DeadLetterEntry, task: Task) -> bool:
        """Put ``task`` back in the stream and drop the dead letter; False if already gone."""
        ...


class ResultStore(Protocol):
    """Committed Results (async)."""

    async def committed(self, tenant: str) -> list[Result]:
        """Every committed Result of ``tenant``."""
        ...


class TaskState(StrEnum):
    """Where a task stands, as far as the stored records tell."""

    PENDING = "pending"
    """Submitted and not yet settled: queued, running, or waiting to be retried."""
    REVIEW = "review"
    """Its Result waits for a human."""
    COMMITTED = "committed"
    DENIED = "denied"
    DEAD_LETTERED = "dead_lettered"
    CANCELLED = "cancelled"
    """Cancelled by an operator before it settled; nothing of it is committed."""
    UNKNOWN = "unknown"
    """No record of it for this tenant (never submitted, another tenant's, or expired)."""


@dataclass(frozen=True)
class Cancellation:
    """Who cancelled a task, why and when."""

    actor: str
    reason: str | None
    at: datetime


@dataclass(frozen=True)
class TaskStatus:
    """A task's state with what is known of it.

    Attributes:
        task_id: the id asked about.
        tenant: the tenant asked for.
        state: where the task stands.
        task: the Task, while it is pending or in review.
        result: the committed Result, or the Result waiting for review.
        decision: the Judge's decision that parked it for review.
        cancellation: who cancelled it, why and when (``cancelled`` only).
    """

    task_id: str
    tenant: str
    state: TaskState
    task: Task | None = None
    result: Result | None = None
    decision: Decision | None = None
    cancellation: Cancellation | None = None


class TaskStatusStore(Protocol):
    """Looks up one task by id within one tenant (async)."""

    async def status(self, tenant: str, task_id: str) -> TaskStatus:
        """The state of ``task_id`` among ``tenant``'s tasks; ``UNKNOWN`` when none."""
        ...

    async def settled(self, tenant: str, task_ids: Sequence[str]) -> dict[str, TaskStatus]:
        """Of ``task_ids``, those that reached an outcome (review included), in one round trip.

        Committed ones carry their Result; tasks still pending are left out.
        """
        ...


@dataclass(frozen=True)
class CancelRequest:
    """One task to cancel: its id, the session it belongs to, and who asks why.

    ``event``, when given, is kept as the audit event of the cancellation in the same
    atomic step as the cancellation itself (the pending audit events).
    """

    task_id: str
    session: str
    cancellation: Cancellation
    event: AuditEvent | None = None


@dataclass(frozen=True)
class CancelReply:
    """What became of one :class:`CancelRequest`.

    Attributes:
        task_id: the task.
        cancelled: True when this request cancelled it.
        state: the state it is in now: ``cancelled`` when this request cancelled it;
            otherwise the outcome it had already reached (``committed``, ``denied``,
            ``dead_lettered``, ``cancelled``), or ``unknown`` (no live task by that id).
    """

    task_id: str
    cancelled: bool
    state: TaskState


class TaskCanceller(Protocol):
    """Cancels tasks that have not settled (async)."""

    async def cancel(self, tenant: str, requests: Sequence[CancelRequest]) -> list[CancelReply]:
        """Cancel each task atomically, in one round trip; replies in the order asked.

        A cancelled task is settled ``cancelled`` at once: its delayed copy and review item
        are removed, a copy waiting in the stream is dropped by the Worker's admission
        without running, and a Result of it is dropped by the unit of work.
        """
        ...
