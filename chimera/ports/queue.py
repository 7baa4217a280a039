"""Queue ports: how services move Tasks and Results without knowing it is Redis.

Every method is ``async`` (it does I/O) and works on batches: an implementation must make
one round trip per call, not one per item. Every operation is tenant-scoped: each item
carries its tenant and only touches that tenant's keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from chimera.models.audit import AuditEvent
from chimera.models.result import Result
from chimera.models.task import Task

T = TypeVar("T", Task, Result)


@dataclass(frozen=True)
class Delivery(Generic[T]):
    """One message handed to one consumer.

    Attributes:
        tenant: whose stream it came from (trust this, not the message's own claim).
        entry_id: the stream entry id, needed to ack it.
        message: the decoded Task or Result, or ``None`` if the entry could not be decoded.
        deliveries: how many times the entry has been delivered, this time included.
        raw: the entry's body as stored, kept for dead-lettering undecodable entries.
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

    @property
    def key(self) -> tuple[str, str]:
        """``(tenant, entry_id)``: entry ids are only unique within one tenant's stream."""
        return (self.tenant, self.entry_id)


@dataclass(frozen=True)
class DeadLetter:
    """Why a task was given up on."""

    reason: str
    attempts: int
    last_error: str | None = None


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


class QueueStats(Protocol):
    """Read-only figures for ``chimera status``."""

    async def stats(self, tenant: str) -> TenantStats:
        """Return the current figures of ``tenant`` (async)."""
        ...
