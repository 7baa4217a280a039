"""Queue ports: how services move Tasks and Results without knowing it is Redis.

Every method is ``async`` (it does I/O) and works on batches: an implementation must make
one round trip per call, not one per item. Every operation is tenant-scoped: each item
carries its tenant and only touches that tenant's keys.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from chimera.models.audit import AuditEvent
from chimera.models.result import Result
from chimera.models.task import Task

if TYPE_CHECKING:  # ports.stores imports ports.judge, which imports this module
    from chimera.ports.stores import ReviewItem

T = TypeVar("T", Task, Result)


@dataclass(frozen=True)
class Delivery(Generic[T]):
    """One message handed to one consumer.

    Attributes:
        tenant: whose stream it came from (trust this, not the message's own claim).
        entry_id: the stream entry id, needed to ack it.
        message: the decoded Task or Result, or ``None`` if the entry could not be decoded.
        deliveries: how many times the entry has been delivered, this time included.
        raw: the entry's body as stored when it decoded; for an entry that did not, a
            bounded, escaped excerpt of its bytes (kept in its dead letter or audit record).
        problem: why the entry could not be decoded (``None`` when it was).
        traceparent: the W3C trace context the next entry about this message continues
            from: as read from the entry, then (while tracing) the context of the span that
            handled it. Not part of equality: it is a hint, not the entry's identity.
    """

    tenant: str
    entry_id: str
    message: T | None
    deliveries: int = 1
    raw: str = ""
    traceparent: str | None = field(default=None, compare=False)
    problem: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        """``(tenant, entry_id)``: entry ids are only unique within one tenant's stream."""
        return (self.tenant, self.entry_id)


@dataclass(frozen=True)
class TenantLimits:
    """One tenant's read limits, shared by every Worker (``None``: no limit).

    Attributes:
        max_in_flight: most of its entries pending (delivered, not acked) at once.
        rate_per_s: entries read per second, from a token bucket kept with the queue.
        burst: the bucket's size.
    """

    max_in_flight: int | None = None
    rate_per_s: float | None = None
    burst: int = 1


#: A tenant without limits (reads of it never touch its quota state).
NO_LIMITS = TenantLimits()
#: Longest wait before a reader looks again at a tenant held back by its in-flight limit:
#: other Workers' completions make room without a new entry to wake the reader.
IN_FLIGHT_RECHECK_MS = 100


@dataclass(frozen=True)
class ThrottleChange:
    """A tenant became throttled (a limit held back waiting tasks) or was released.

    Each change is reported once, to the one reader that saw it happen.
    """

    tenant: str
    throttled: bool
    reason: str
    """``rate`` or ``in_flight`` (for a release: the limit that had held it)."""


@dataclass
class FairRead:
    """What one read within limits came to.

    Attributes:
        deliveries: the entries read, tenant by tenant.
        got: entries read per tenant asked.
        limited: tenants a limit held back in this read, with the limit (``rate``,
            ``in_flight``).
        changes: throttle changes this read saw.
    """

    deliveries: list[Delivery[Task]] = field(default_factory=list)
    got: dict[str, int] = field(default_factory=dict)
    limited: dict[str, str] = field(default_factory=dict)
    changes: list[ThrottleChange] = field(default_factory=list)

    def merge(self, other: FairRead) -> FairRead:
        """This read followed by ``other``."""
        got = dict(self.got)
        for tenant, count in other.got.items():
            got[tenant] = got.get(tenant, 0) + count
        return FairRead(
            deliveries=self.deliveries + other.deliveries,
            got=got,
            limited={**self.limited, **other.limited},
            changes=self.changes + other.changes,
        )


@dataclass(frozen=True)
class DeadLetter:
    """Why a task was given up on.

    Attributes:
        reason: why, in a few words.
        attempts: how many attempts it had.
        last_error: the last attempt's error, if any.
        in_ledger: False for an entry that is not one of its tenant's tasks (undecodable,
            forged, another tenant's): its letter keeps only an excerpt of the entry and is
            not replayable, and nothing of the tenant's ledger, settled marks or session
            counters is touched.
    """

    reason: str
    attempts: int
    last_error: str | None = None
    in_ledger: bool = True


class AdmitAction(StrEnum):
    """What a Worker is to do with a task entry before it runs anything."""

    RUN = "run"
    WAIT = "wait"
    """Not now (its session is halted): hand it back to look at again later, no attempt
    counted."""
    DISCARD = "discard"
    """A stale copy (its task settled, waits for review, or moved to another attempt):
    ack and delete it, nothing else."""
    DEAD_LETTER = "dead_letter"
    """Not one of its tenant's tasks (undecodable, forged, another tenant's, never
    submitted): dead-letter it with the reason, without touching the tenant's ledger."""


@dataclass(frozen=True)
class Admission:
    """The answer to "may this entry run?" for one delivery.

    Attributes:
        action: run, wait, discard or dead-letter.
        reason: why not (empty for run), for the log, the audit trail and the dead letter.
        wait_s: for ``WAIT``, how long to wait before looking again (``None``: the
            Worker's own default).
    """

    action: AdmitAction
    reason: str = ""
    wait_s: float | None = None


#: The admission of an entry that may run.
ADMIT = Admission(AdmitAction.RUN)


@dataclass(frozen=True)
class StreamStats:
    """Shape of one stream and its consumer group."""

    length: int
    pending: int
    consumers: int
    lag: int | None


@dataclass(frozen=True)
class TenantStats:
    """Everything ``chimera status`` shows for one tenant."""

    tenant: str
    tasks: StreamStats
    results: StreamStats
    delayed: int
    review: int
    dead_lettered: int
    committed: int
    throttled: str | None = None
    """The limit holding the tenant's tasks back now (``rate``, ``in_flight``), if any."""
    tokens_today: int = 0
    """LLM tokens of the tenant's Results published this UTC day."""


class TaskQueue(Protocol):
    """The Planner's and Workers' side: the tenant task streams."""

    async def ensure_groups(self, tenants: Sequence[str]) -> None:
        """Create the streams and consumer groups of ``tenants`` if missing (async)."""
        ...

    async def enqueue(
        self, tasks: Sequence[Task], traceparents: Sequence[str | None] | None = None
    ) -> list[str]:
        """Add tasks to their tenants' streams and ledgers in one round trip (async).

        ``traceparents`` (one per task, or none at all) is the W3C trace context each
        entry carries, so the Worker continues the task's trace.

        Returns:
            The stream entry ids, in the order of ``tasks``.
        """
        ...

    async def read_tasks(
        self, consumer: str, tenants: Sequence[str], count: int, block_ms: int
    ) -> list[Delivery[Task]]:
        """Read at most about ``count`` new tasks for ``consumer`` (async, may block)."""
        ...

    async def read_within(
        self,
        consumer: str,
        shares: Mapping[str, int],
        limits: Mapping[str, TenantLimits],
        block_ms: int,
    ) -> FairRead:
        """Read up to ``shares[tenant]`` new tasks of each tenant, within its limits (async).

        One round trip reads every tenant (each atomically with its limits, so every
        Worker shares them); a tenant over a limit gets fewer or none, and its tasks stay
        waiting in its stream. When nothing at all was read, waits up to ``block_ms`` for
        a new entry of a tenant that is not held back, then reads once more.
        """
        ...

    async def admit(self, deliveries: Sequence[Delivery[Task]]) -> list[Admission]:
        """Say of each delivery whether to run it, in one round trip (async).

        Run only what is one of its tenant's live tasks, as that tenant's ledger holds it
        (running costs tokens): an entry whose body is not its task's ledger row is a stale
        copy or a forgery; a cancelled task has no ledger row and is settled, so its copy is
        discarded unrun too. One call answers for the whole batch.

        Returns:
            One :class:`Admission` per delivery, in order.
        """
        ...

    async def discard(self, deliveries: Sequence[Delivery[Task]]) -> list[bool]:
        """Ack and delete entries that need nothing else (stale copies) (async).

        Returns:
            Per item, whether it was still pending to the group (False: someone else
            handled it first).
        """
        ...

    async def complete(self, done: Sequence[tuple[Delivery[Task], Result]]) -> None:
        """Publish Results and ack their tasks, pipelined in one round trip (async)."""
        ...

    async def retry_later(
        self,
        items: Sequence[tuple[Delivery[Task], Task, float]],
        count_as_retry: bool = True,
        events: Sequence[AuditEvent | None] | None = None,
    ) -> list[bool]:
        """Ack tasks and schedule them to run at the given epoch seconds (async).

        The ack and the schedule of each item happen atomically. ``count_as_retry=False``
        defers without counting a retry (a halted session's task waiting for resume).
        ``events[i]``, when given, is kept in the tenant's pending audit events in the same
        atomic step as item ``i``'s retry (see :class:`~chimera.ports.audit.PendingAudit`).

        Returns:
            Per item, whether it was scheduled (False: the entry was no longer pending to
            this group, or its task has settled meanwhile).
        """
        ...

    async def park_for_review(
        self,
        items: Sequence[tuple[Delivery[Task], ReviewItem]],
        events: Sequence[AuditEvent | None] | None = None,
    ) -> list[bool]:
        """Ack tasks and park them in their tenant's review queue, atomically (async).

        For a task whose agent stopped at tool calls a human must approve: ``items[i]``'s
        review item holds the conversation. ``events[i]`` is kept in the tenant's pending
        audit events in the same step.

        Returns:
            Per item, whether it was parked (False: lost a race, nothing changed).
        """
        ...

    async def dead_letter(
        self,
        items: Sequence[tuple[Delivery[Task], DeadLetter]],
        events: Sequence[AuditEvent | None] | None = None,
    ) -> list[bool]:
        """Move tasks to their tenant's dead-letter stream, atomically with the ack (async).

        ``events[i]``, when given, is kept in the tenant's pending audit events in the same
        atomic step as item ``i``'s dead letter.

        Returns:
            Per item, whether it was dead-lettered (False: lost a race, nothing changed).
        """
        ...

    async def promote_due(self, tenants: Sequence[str], now: float) -> int:
        """Move delayed tasks whose time has come back into their streams (async).

        Returns:
            How many tasks were moved.
        """
        ...

    async def claim_stale(
        self, consumer: str, tenants: Sequence[str], min_idle_ms: int, count: int
    ) -> list[Delivery[Task]]:
        """Take over tasks other consumers left pending longer than ``min_idle_ms`` (async)."""
        ...

    async def renew(
        self, consumer: str, deliveries: Sequence[Delivery[Task]]
    ) -> set[tuple[str, str]]:
        """Reset the idle time of in-flight tasks so no one reclaims them (async).

        Returns:
            The ``Delivery.key`` of each entry still owned by ``consumer``; a missing one
            was taken over by another consumer.
        """
        ...

    async def release(self, deliveries: Sequence[Delivery[Task]]) -> None:
        """Hand unfinished tasks back so another consumer can take them at once (async)."""
        ...

    async def prune_consumers(self, tenants: Sequence[str], idle_ms: int) -> int:
        """Forget consumers (of both groups) idle past ``idle_ms`` with nothing pending (async).

        Every restarted process joins under a new name; without pruning, the groups would
        list every process that ever ran.

        Returns:
            How many consumers were removed.
        """
        ...


class ResultQueue(Protocol):
    """The Judge's side: the tenant result streams."""

    async def ensure_groups(self, tenants: Sequence[str]) -> None:
        """Create the streams and consumer groups of ``tenants`` if missing (async)."""
        ...

    async def read_results(
        self, consumer: str, tenants: Sequence[str], count: int, block_ms: int
    ) -> list[Delivery[Result]]:
        """Read at most about ``count`` new results for ``consumer`` (async, may block)."""
        ...

    async def read_own_pending(
        self, consumer: str, tenants: Sequence[str], count: int
    ) -> list[Delivery[Result]]:
        """Re-read results delivered to ``consumer`` but never acked (async)."""
        ...

    async def claim_stale_results(
        self, consumer: str, tenants: Sequence[str], min_idle_ms: int, count: int
    ) -> list[Delivery[Result]]:
        """Take over results another Judge left pending too long (async)."""
        ...

    async def renew_results(
        self, consumer: str, deliveries: Sequence[Delivery[Result]]
    ) -> set[tuple[str, str]]:
        """Reset the idle time of Results a Judge is still judging (async).

        A batch that takes longer than the lease (a slow policy or audit sink) must not
        be taken over and judged a second time by another Judge.

        Returns:
            The ``Delivery.key`` of each entry still owned by ``consumer``.
        """
        ...


class QueueStats(Protocol):
    """Read-only figures for ``chimera status``."""

    async def stats(self, tenant: str) -> TenantStats:
        """Return the current figures of ``tenant`` (async)."""
        ...
