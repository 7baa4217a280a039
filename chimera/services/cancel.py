"""Cancelling tasks: by id, a whole session, or (with pipelines) a run; audited with the actor.

A cancelled task is settled ``cancelled`` at once and for good: its delayed copy and any
review item are removed, a copy still in the stream is dropped by the Worker's admission
without running, and a Result of a task that was running is dropped by the Judge's unit of
work instead of committed. Tasks that already have an outcome keep it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from chimera.lib.logging import get_logger
from chimera.models.audit import AuditEvent, AuditEventType, event_id
from chimera.models.types import MAX_TEXT_CHARS, new_id, utc_now
from chimera.ports.audit import PendingAudit
from chimera.ports.judge import AuditLogger
from chimera.ports.session import SessionStore
from chimera.ports.stores import (
    Cancellation,
    CancelReply,
    CancelRequest,
    TaskCanceller,
    TaskState,
    TaskStatus,
    TaskStatusStore,
)
from chimera.services.audit_handover import hand_over
from chimera.services.errors import RequestError
from chimera.services.sessions import NoSuchSession
from chimera.services.tenants import TenantScope

log = get_logger("chimera.cancel")

#: Tasks per cancel round trip (a session may hold many).
BATCH = 500


class NothingToCancel(RequestError):
    """No task by the ids given exists in the swarm's tenants."""


@dataclass(frozen=True)
class Cancelled:
    """What became of one task asked to be cancelled.

    Attributes:
        tenant: its tenant (``None`` when no tenant has a task by that id).
        task_id: the id asked about.
        cancelled: True when this request cancelled it.
        state: ``cancelled`` when it did; else the outcome the task already had, or
            ``unknown``.
    """

    tenant: str | None
    task_id: str
    cancelled: bool
    state: TaskState


class CancelService:
    """Cancels tasks that have not settled; each cancellation is audited with its actor.

    Args:
        canceller: applies cancellations atomically.
        states: looks tasks up by id (to find a task's tenant and session).
        sessions: the ids of a session's tasks.
        audit: the ``cancel_requested`` event is written before a cancel is applied; the
            ``cancelled`` event is kept pending by the cancellation itself (same atomic
            step), then handed to the sinks and cleared from ``pending_audit``.
        scope: the swarm's tenants.
        pending_audit: where kept events are cleared once the sinks have them.
        clock: now, for the cancellation's time.
    """

    def __init__(
        self,
        canceller: TaskCanceller,
        states: TaskStatusStore,
        sessions: SessionStore,
        audit: AuditLogger,
        scope: TenantScope,
        pending_audit: PendingAudit | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.canceller = canceller
        self.states = states
        self.sessions = sessions
        self.audit = audit
        self.scope = scope
        self.pending_audit = pending_audit
        self.clock = clock

    async def cancel_tasks(
        self,
        task_ids: Sequence[str],
        actor: str,
        reason: str | None = None,
        tenant: str | None = None,
    ) -> list[Cancelled]:
        """Cancel the tasks named by id, looking each up in ``tenant`` (or every tenant).

        Returns:
            One entry per distinct id, in the order given.

        Raises:
            UnknownTenant: ``tenant`` is not one of the swarm's.
            NothingToCancel: no tenant has a task by any of the ids.
        """
        tenants = self.scope.select(tenant)
        found: dict[str, Cancelled] = {}
        wanted: dict[str, list[CancelRequest]] = {}
        note = self._note(actor, reason)
        for task_id in dict.fromkeys(task_ids):
            for name in tenants:
                status = await self.states.status(name, task_id)
                if status.state is TaskState.UNKNOWN:
                    continue
                session = _live_session(status)
                if session is None:  # settled already: it keeps its outcome
                    found[task_id] = Cancelled(name, task_id, False, status.state)
                else:
                    wanted.setdefault(name, []).append(CancelRequest(task_id, session, note))
                break
            else:
                found[task_id] = Cancelled(None, task_id, False, TaskState.UNKNOWN)
        if all(c.state is TaskState.UNKNOWN for c in found.values()) and not wanted:
            raise NothingToCancel(f"no task of this swarm has the id {', '.join(task_ids)}")
        for name, requests in wanted.items():
            for done in await self._apply(name, requests):
                found[done.task_id] = done
        return [found[task_id] for task_id in dict.fromkeys(task_ids)]

    async def cancel_session(
        self, tenant: str, session: str, actor: str, reason: str | None = None
    ) -> list[Cancelled]:
        """Cancel every task of ``session`` that has not settled.

        Returns:
            One entry per task of the session, in submission order.

        Raises:
            UnknownTenant: the swarm has no such tenant.
            NoSuchSession: the tenant has no such session.
        """
        self.scope.check([tenant])
        if await self.sessions.get(tenant, session) is None:
            raise NoSuchSession(f"tenant {tenant!r} has no session {session!r}")
        note = self._note(actor, reason)
        ids = await self.sessions.task_ids(tenant, session)
        out: list[Cancelled] = []
        for start in range(0, len(ids), BATCH):
            batch = [CancelRequest(i, session, note) for i in ids[start : start + BATCH]]
            out.extend(await self._apply(tenant, batch))
        return out

    def _note(self, actor: str, reason: str | None) -> Cancellation:
        return Cancellation(
            actor=f"human:{actor}",
            reason=reason[:MAX_TEXT_CHARS] if reason else None,
            at=self.clock(),
        )

    async def _apply(self, tenant: str, requests: Sequence[CancelRequest]) -> list[Cancelled]:
        """Audit the request, cancel (each keeping its event), then hand the events on."""
        token = new_id()
        await self.audit.record(
            [_event(AuditEventType.CANCEL_REQUESTED, tenant, r, token) for r in requests]
        )
        kept = [
            replace(r, event=_event(AuditEventType.CANCELLED, tenant, r, token)) for r in requests
        ]
        replies = await self.canceller.cancel(tenant, kept)
        done = [r.event for r, reply in zip(kept, replies, strict=True) if reply.cancelled]
        await self._report([event for event in done if event is not None])
        return [_cancelled(tenant, reply) for reply in replies]

    async def _report(self, events: list[AuditEvent]) -> None:
        """The events the cancellations kept pending, to the sinks; then cleared."""
        await hand_over(events, self.audit, self.pending_audit, "cancel.outcome_audit_deferred")


def _live_session(status: TaskStatus) -> str | None:
    """The session of a task that has not settled (``None``: it has, or it is unreadable)."""
    if status.state not in (TaskState.PENDING, TaskState.REVIEW):
        return None
    for part in (status.task, status.result, status.decision):
        if part is not None:
            return part.session
    return None


def _cancelled(tenant: str, reply: CancelReply) -> Cancelled:
    known = reply.state is not TaskState.UNKNOWN
    return Cancelled(tenant if known else None, reply.task_id, reply.cancelled, reply.state)


def _event(kind: AuditEventType, tenant: str, request: CancelRequest, token: str) -> AuditEvent:
    note = request.cancellation
    return AuditEvent(
        id=event_id(kind, request.task_id, token),
        type=kind,
        tenant=tenant,
        session=request.session,
        task_id=request.task_id,
        actor=note.actor,
        data={"reason": note.reason},
    )
