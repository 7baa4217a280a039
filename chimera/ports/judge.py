"""Judge ports: the policy that decides, the audit trail, and the unit of work that commits."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

from chimera.models.audit import AuditEvent, AuditEventType
from chimera.models.config import ResolvedJudge
from chimera.models.decision import Decision, Verdict
from chimera.models.result import Result
from chimera.models.task import Task
from chimera.ports.queue import DeadLetter, Delivery


@dataclass(frozen=True)
class PolicyInput:
    """Everything a policy may look at: the Result, its Task and the settings that apply.

    ``max_attempts`` is the task's attempt budget (its skill's limit): a policy that asks
    for a retry may only do so while ``task.attempt < max_attempts``.
    """

    result: Result
    task: Task
    settings: ResolvedJudge
    sensitive: bool
    max_attempts: int = 3


@runtime_checkable
class JudgePolicy(Protocol):
    """Turns a valid Result into a Decision.

    ``decide`` is ``async`` so a policy may consult an outside service (a moderation API);
    it must be deterministic for the same input, since decisions are replayed in audits.
    """

    name: str

    async def decide(self, item: PolicyInput) -> Decision:
        """Return the decision for ``item``."""
        ...


@runtime_checkable
class AuditSink(Protocol):
    """Somewhere audit events are kept: a log, a Redis stream, a file, a webhook.

    ``write`` is ``async`` and must only return once the events are durable to the sink's
    own standard: the Judge commits after it returns, and not at all if it raises.
    """

    name: str

    async def write(self, events: Sequence[AuditEvent]) -> None:
        """Store ``events`` in order; raise if they could not be stored."""
        ...


class AuditLogger(Protocol):
    """Fans events out to every configured sink (async); raises if any sink fails."""

    async def record(self, events: Sequence[AuditEvent]) -> None:
        """Write ``events`` to every sink; raise if any sink did not take them."""
        ...


class CommitOutcome(StrEnum):
    """What the unit of work did with a judged Result."""

    COMMITTED = "committed"
    DENIED = "denied"
    REVIEW = "review"
    RETRIED = "retried"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    """The task was cancelled before its Result came: the Result is dropped, not committed."""


@dataclass(frozen=True)
class OutcomeEvents:
    """The audit event of each way a commit can go, handed to the unit of work with it.

    The unit of work keeps the one that happens in the same atomic step as the change it
    reports (the pending-audit hash), so an outcome never exists without its record; the
    caller then writes it to the sinks.

    The duplicate's event is ``done`` under another id (:func:`duplicate_event`): only its
    id is held, and the event is made when asked for. Duplicates are rare, and the Judge
    builds these for every Result.
    """

    done: AuditEvent
    duplicate_id: str

    @functools.cached_property
    def duplicate(self) -> AuditEvent:
        """The event of a ``DUPLICATE`` outcome."""
        return duplicate_event(self.done, self.duplicate_id)

    def pick(self, outcome: CommitOutcome) -> AuditEvent:
        """The event of ``outcome``."""
        return self.duplicate if outcome is CommitOutcome.DUPLICATE else self.done


def duplicate_event(done: AuditEvent, duplicate_id: str) -> AuditEvent:
    """The record of a duplicate where ``done`` records the outcome that was asked for.

    The same event but for its id, its type (``duplicate``), ``data.outcome``
    (``duplicate``) and no ``data.next_attempt`` (nothing was retried). ``judge_apply.lua``
    derives the duplicate's pending record from ``done``'s JSON by the same rule: a change
    here is a change there.
    """
    data = {**done.data, "outcome": CommitOutcome.DUPLICATE.value}
    data.pop("next_attempt", None)
    # A copy, not a new event: a fraction of the cost of validating another one.
    return done.model_copy(
        update={"id": duplicate_id, "type": AuditEventType.DUPLICATE, "data": data}
    )


@dataclass(frozen=True)
class Judged:
    """A Result delivery with its Decision, ready for the unit of work.

    ``task`` is ``None`` when the Result did not answer a live task of the tenant it was
    read from (forged, stale or already settled), and ``decision`` is ``None`` when the
    entry could not even be decoded: in both cases only the ack happens.
    """

    delivery: Delivery[Result]
    decision: Decision | None
    task: Task | None
    retry_task: Task | None = None
    retry_at: float | None = None
    events: OutcomeEvents | None = None

    @property
    def intended(self) -> CommitOutcome:
        """The outcome the decision asks for (``DUPLICATE`` may come instead)."""
        decision, result = self.decision, self.delivery.message
        if self.task is None or decision is None or result is None:
            return CommitOutcome.REJECTED
        if decision.verdict is Verdict.APPROVE:
            return CommitOutcome.COMMITTED
        if decision.verdict is Verdict.REVIEW:
            return CommitOutcome.REVIEW
        if decision.retry and self.retry_task is not None and self.retry_at is not None:
            return CommitOutcome.RETRIED
        return CommitOutcome.DENIED


@dataclass(frozen=True)
class Unjudgeable:
    """A Result no Judge could judge in time, and why its task is dead-lettered instead.

    Attributes:
        delivery: the Result's entry (acked whatever happens).
        task: its live task, as :meth:`UnitOfWork.lookup` found it.
        letter: the reason.
        event: the ``dead_lettered`` audit event, kept with the dead letter if it happens.
    """

    delivery: Delivery[Result]
    task: Task
    letter: DeadLetter
    event: AuditEvent | None = None


class UnitOfWork(Protocol):
    """Applies decisions atomically and idempotently (async).

    For each item, in one atomic step: approve records the Result under its task id only if
    no outcome is recorded yet, updates the session counters and acks; deny acks (and
    settles a genuine task); review keeps the Result for a human and acks; a retry schedules
    the next attempt and acks. An item whose task already has an outcome is acked and
    reported ``DUPLICATE``.
    """

    async def apply(self, items: Sequence[Judged]) -> list[CommitOutcome]:
        """Apply every item; one round trip for the batch; outcomes in the same order."""
        ...

    async def lookup(self, deliveries: Sequence[Delivery[Result]]) -> list[Task | None]:
        """Fetch the live Task each Result claims to answer, from the tenant it was read from."""
        ...

    async def dead_letter(self, items: Sequence[Unjudgeable]) -> list[bool]:
        """Ack each Result and dead-letter its task, atomically per item (async).

        Only a task still live with the ledger row that was looked up is dead-lettered
        (and counted, and its event kept); otherwise only the ack happens.

        Returns:
            Per item, whether the dead letter was written.
        """
        ...
