"""In-memory session, review, dead-letter, result and task-status stores.

Each mirrors its Redis adapter on a :class:`MemoryStore`, reading and writing the same
stored strings through ``chimera.lib.records``. Planned faults are named
``"sessions.<method>"``, ``"reviews.<method>"``, ``"dead_letters.<method>"``,
``"results.<method>"`` and ``"task_status.<method>"``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from chimera.lib.fields import BODY, SESSION_STATE, TRACEPARENT, Counter, ReviewReply, Settled
from chimera.lib.records import cancellation, committed_result, dead_letter, review_item
from chimera.lib.records import session as session_record
from chimera.lib.records import settled as settled_record
from chimera.lib.records.task_status import task_status
from chimera.models.audit import AuditEvent
from chimera.models.result import Result
from chimera.models.session import SessionInfo, SessionState
from chimera.models.task import Task
from chimera.models.types import is_safe_id, utc_now
from chimera.ports.judge import CommitOutcome, OutcomeEvents
from chimera.ports.stores import (
    CancelReply,
    CancelRequest,
    DeadLetterEntry,
    ReviewItem,
    TaskState,
    TaskStatus,
)
from chimera.testing.fakes.pending import keep_pending
from chimera.testing.fakes.store import MemoryStore


class _Fake:
    """What the store fakes share: the store, and a yield-then-maybe-fail on entry."""

    prefix = "fake"

    def __init__(self, store: MemoryStore | None = None) -> None:
        self.store = store or MemoryStore()

    async def _enter(self, method: str) -> None:
        await asyncio.sleep(0)
        self.store.faults.check(f"{self.prefix}.{method}")


class FakeSessionStore(_Fake):
    """Implements :class:`~chimera.ports.session.SessionStore` in memory."""

    prefix = "sessions"

    async def open(self, tenant: str, session: str) -> None:
        """Create the session (state ``open``) unless it exists."""
        await self._enter("open")
        data = self.store.tenant(tenant)
        fields = data.session(session)
        for name, value in session_record.encode_new(SessionState.OPEN, utc_now()).items():
            fields.setdefault(name, value)
        data.sessions.add(session)

    async def set_state(self, tenant: str, session: str, state: SessionState) -> None:
        """Store the lifecycle state (``completed`` is derived and refused)."""
        await self._enter("set_state")
        if state is SessionState.COMPLETED:
            raise ValueError("completed is derived from the counters and never stored")
        data = self.store.tenant(tenant)
        data.session(session)[SESSION_STATE] = state.value
        data.sessions.add(session)

    async def get(self, tenant: str, session: str) -> SessionInfo | None:
        """Read one session."""
        await self._enter("get")
        fields = self.store.tenant(tenant).session_hashes.get(session)
        return session_record.decode(tenant, session, fields) if fields else None

    async def task_ids(self, tenant: str, session: str) -> list[str]:
        """The ids submitted into ``session``, sorted."""
        await self._enter("task_ids")
        return sorted(self.store.tenant(tenant).session_tasks.get(session, set()))

    async def list(self, tenant: str) -> list[SessionInfo]:
        """Every readable session of ``tenant``, by id."""
        await self._enter("list")
        data = self.store.tenant(tenant)
        ids = sorted(data.sessions)
        return session_record.readable(tenant, [(s, data.session_hashes.get(s, {})) for s in ids])

    async def halted(self, pairs: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which pairs are halted."""
        await self._enter("halted")
        return {
            (tenant, session)
            for tenant, session in set(pairs)
            if self.store.tenant(tenant).session_hashes.get(session, {}).get(SESSION_STATE)
            == SessionState.HALTED.value
        }


class FakeReviewStore(_Fake):
    """Implements :class:`~chimera.ports.stores.ReviewStore` (``review_decide.lua``)."""

    prefix = "reviews"

    async def list(self, tenant: str) -> list[ReviewItem]:
        """Every readable parked item, oldest task first."""
        await self._enter("list")
        return review_item.readable(tenant, self.store.tenant(tenant).review)

    async def decide(
        self, tenant: str, item: ReviewItem, approve: bool, events: OutcomeEvents | None = None
    ) -> str:
        """Commit or deny a parked item; ``missing`` when someone else decided first."""
        await self._enter("decide")
        reply = self._decide(tenant, item, approve)
        if events is not None and reply is not ReviewReply.MISSING:
            outcome = CommitOutcome.DUPLICATE if reply is ReviewReply.DUPLICATE else None
            event = events.duplicate if outcome else events.done
            keep_pending(self.store.tenant(tenant), event)
        return reply.value

    def _decide(self, tenant: str, item: ReviewItem, approve: bool) -> ReviewReply:
        data, task_id, session = self.store.tenant(tenant), item.task.id, item.task.session
        if task_id not in data.review:
            return ReviewReply.MISSING
        del data.review[task_id]
        data.ledger.pop(task_id, None)
        data.count(session, Counter.REVIEW, -1)
        if approve:
            if task_id in data.committed:
                return ReviewReply.DUPLICATE
            data.committed[task_id] = committed_result.encode(item.result)
            data.settled[task_id] = settled_record.encode(Settled.COMMITTED)
            data.count(session, Counter.COMMITTED)
            return ReviewReply.COMMITTED
        data.settled[task_id] = settled_record.encode(Settled.DENIED)
        data.count(session, Counter.DENIED)
        return ReviewReply.DENIED

    async def resume(
        self, tenant: str, item: ReviewItem, resumed: Task, event: AuditEvent | None = None
    ) -> str:
        """Queue ``resumed`` in place of the parked item, counting no retry."""
        return await self.retry(tenant, item, resumed, event, count_retry=False)

    async def retry(
        self,
        tenant: str,
        item: ReviewItem,
        next_task: Task,
        event: AuditEvent | None = None,
        count_retry: bool = True,
    ) -> str:
        """Queue ``next_task`` in place of the parked item (``review_retry.lua``)."""
        await self._enter("retry")
        data, task_id, session = self.store.tenant(tenant), item.task.id, item.task.session
        if task_id not in data.review:
            return ReviewReply.MISSING.value
        del data.review[task_id]
        data.count(session, Counter.REVIEW, -1)
        body = next_task.model_dump_json()
        data.ledger[task_id] = body
        data.tasks.add({BODY: body}, self.store.now_ms())
        if count_retry:
            data.count(session, Counter.RETRIED)
        keep_pending(data, event)
        self.store.added()
        return "retried"


class FakeDeadLetterStore(_Fake):
    """Implements :class:`~chimera.ports.stores.DeadLetterStore` (``replay_dead_letter.lua``)."""

    prefix = "dead_letters"

    async def list(self, tenant: str) -> list[DeadLetterEntry]:
        """Every dead letter, oldest first; an unreadable one says why."""
        await self._enter("list")
        return [
            dead_letter.read(entry_id, tenant, fields.get(BODY, ""))
            for entry_id, fields in self.store.tenant(tenant).dlq
        ]

    async def replay(self, tenant: str, entry: DeadLetterEntry, task: Task) -> bool:
        """Put ``task`` back and drop the dead letter; False if gone or committed after all."""
        await self._enter("replay")
        data = self.store.tenant(tenant)
        if data.settled.get(task.id) == settled_record.encode(Settled.COMMITTED):
            return False
        trace = data.dlq.entries.get(entry.entry_id, {}).get(TRACEPARENT, "")
        if not data.dlq.delete(entry.entry_id):
            return False
        body = task.model_dump_json()
        data.tasks.add(
            {BODY: body, TRACEPARENT: trace} if trace else {BODY: body}, self.store.now_ms()
        )
        data.ledger[task.id] = body
        data.settled.pop(task.id, None)
        data.count(task.session, Counter.DEAD_LETTERED, -1)
        self.store.added()
        return True


class FakeResultStore(_Fake):
    """Implements :class:`~chimera.ports.stores.ResultStore`."""

    prefix = "results"

    async def committed(self, tenant: str) -> list[Result]:
        """Every readable committed Result, in task id order."""
        await self._enter("committed")
        return committed_result.readable(tenant, self.store.tenant(tenant).committed)


class FakeTaskStatusStore(_Fake):
    """Implements :class:`~chimera.ports.stores.TaskStatusStore`."""

    prefix = "task_status"

    async def status(self, tenant: str, task_id: str) -> TaskStatus:
        """Where ``task_id`` stands among ``tenant``'s tasks."""
        await self._enter("status")
        if not is_safe_id(task_id):
            return TaskStatus(task_id, tenant, TaskState.UNKNOWN)
        data = self.store.tenant(tenant)
        return task_status(
            tenant,
            task_id,
            data.committed.get(task_id),
            data.review.get(task_id),
            data.settled.get(task_id),
            data.ledger.get(task_id),
            data.cancelled.get(task_id),
        )

    async def settled(self, tenant: str, task_ids: Sequence[str]) -> dict[str, TaskStatus]:
        """Of ``task_ids``, those with an outcome (review included)."""
        await self._enter("settled")
        data, found = self.store.tenant(tenant), {}
        for task_id in task_ids:
            if not is_safe_id(task_id):
                continue
            status = task_status(
                tenant,
                task_id,
                data.committed.get(task_id),
                data.review.get(task_id),
                data.settled.get(task_id),
                None,
                data.cancelled.get(task_id),
            )
            if status.state is not TaskState.UNKNOWN:
                found[task_id] = status
        return found


class FakeTaskCanceller(_Fake):
    """Implements :class:`~chimera.ports.stores.TaskCanceller` (``cancel_task.lua``)."""

    prefix = "canceller"

    async def cancel(self, tenant: str, requests: Sequence[CancelRequest]) -> list[CancelReply]:
        """Cancel each task that has not settled."""
        await self._enter("cancel")
        data = self.store.tenant(tenant)
        replies = []
        for request in requests:
            task_id = request.task_id
            if task_id in data.settled:
                state = TaskState(settled_record.decode(data.settled[task_id]).value)
                replies.append(CancelReply(task_id, False, state))
                continue
            row = data.ledger.get(task_id)
            parked = task_id in data.review
            if row is None and not parked:
                replies.append(CancelReply(task_id, False, TaskState.UNKNOWN))
                continue
            if row is not None:
                data.delayed.pop(row, None)
                data.delayed_traces.pop(task_id, None)
                del data.ledger[task_id]
            if parked:
                del data.review[task_id]
                data.count(request.session, Counter.REVIEW, -1)
            data.settled[task_id] = settled_record.encode(Settled.CANCELLED)
            data.cancelled[task_id] = cancellation.encode(request.cancellation)
            data.count(request.session, Counter.CANCELLED)
            keep_pending(data, request.event)
            replies.append(CancelReply(task_id, True, TaskState.CANCELLED))
        return replies


class FakeUsageStore(_Fake):
    """Implements :class:`~chimera.ports.quota.UsageStore` (``count_usage.lua`` writes it)."""

    prefix = "usage"

    async def tokens(self, tenant: str, day: str) -> int:
        """Tokens ``tenant`` used on ``day``."""
        await self._enter("tokens")
        return int(self.store.tenant(tenant).usage.get(day, "0"))
