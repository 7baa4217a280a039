"""An in-memory :class:`~chimera.ports.judge.UnitOfWork`: ``judge_apply.lua`` in Python."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from pydantic import ValidationError

from chimera.lib.fields import BODY, Counter, JudgeAction, Settled
from chimera.lib.judged import judge_action, task_id_to_match
from chimera.lib.keys import JUDGE_GROUP
from chimera.lib.records import dead_letter as dead_letter_record
from chimera.lib.records import settled as settled_record
from chimera.lib.records.dead_letter import as_task_entry
from chimera.models.result import Result
from chimera.models.task import Task
from chimera.ports.judge import CommitOutcome, Judged, Unjudgeable
from chimera.ports.queue import Delivery
from chimera.testing.fakes.pending import keep_pending
from chimera.testing.fakes.store import MemoryStore, TenantData


class FakeUnitOfWork:
    """Applies the Judge's decisions to a :class:`MemoryStore`, each item in one step.

    The same checks as the Redis unit of work, in the same order: a settled task or one
    waiting for review, or a ledger row other than the one looked up, makes an item a
    duplicate; approve commits only once. Planned faults are named ``"uow.<method>"``.
    """

    def __init__(self, store: MemoryStore | None = None) -> None:
        self.store = store or MemoryStore()
        # As in the Redis adapter: compare against the row as stored, not a re-encoding.
        self._rows: dict[tuple[str, str], str] = {}

    async def lookup(self, deliveries: Sequence[Delivery[Result]]) -> list[Task | None]:
        """Each Result's task, from the ledger of the tenant it was read from."""
        await asyncio.sleep(0)
        self.store.faults.check("uow.lookup")
        out: list[Task | None] = []
        for delivery in deliveries:
            task = None
            if delivery.message is not None:
                row = self.store.tenant(delivery.tenant).ledger.get(delivery.message.task_id)
                if row is not None:
                    with contextlib.suppress(ValidationError):
                        task = Task.model_validate_json(row)
                    if task is not None:
                        self._rows[(delivery.tenant, task.id)] = row
            out.append(task)
        return out

    async def apply(self, items: Sequence[Judged]) -> list[CommitOutcome]:
        """Apply every item; outcomes in the same order."""
        await asyncio.sleep(0)
        self.store.faults.check("uow.apply")
        outcomes = []
        for item in items:
            outcome = self._apply(item)
            if item.events is not None:
                keep_pending(self.store.tenant(item.delivery.tenant), item.events.pick(outcome))
            outcomes.append(outcome)
        return outcomes

    async def dead_letter(self, items: Sequence[Unjudgeable]) -> list[bool]:
        """Ack each Result and dead-letter its live task (``dead_letter_result.lua``)."""
        await asyncio.sleep(0)
        self.store.faults.check("uow.dead_letter")
        out = []
        for item in items:
            data, task = self.store.tenant(item.delivery.tenant), item.task
            stored = self._rows.pop((item.delivery.tenant, task.id), None)
            data.results.ack(JUDGE_GROUP, item.delivery.entry_id)
            data.results.delete(item.delivery.entry_id)
            live = task.id not in data.settled and task.id not in data.review
            if not live or data.ledger.get(task.id) != (stored or task.model_dump_json()):
                out.append(False)
                continue
            letter = dead_letter_record.encode(as_task_entry(item), item.letter)
            data.dlq.add({BODY: letter}, self.store.now_ms())
            data.ledger.pop(task.id, None)
            data.settled[task.id] = settled_record.encode(Settled.DEAD_LETTERED)
            data.count(task.session, Counter.DEAD_LETTERED)
            keep_pending(data, item.event)
            out.append(True)
        return out

    def _apply(self, item: Judged) -> CommitOutcome:
        data = self.store.tenant(item.delivery.tenant)
        action, payload, due = judge_action(item)
        task_id = task_id_to_match(item)
        task = item.task
        expected = ""
        if task is not None:
            stored = self._rows.pop((item.delivery.tenant, task.id), None)
            expected = stored or task.model_dump_json()
        # Every Result read is acknowledged, whatever becomes of it.
        data.results.ack(JUDGE_GROUP, item.delivery.entry_id)
        data.results.delete(item.delivery.entry_id)
        if task_id and data.settled.get(task_id) == settled_record.encode(Settled.CANCELLED):
            return CommitOutcome.CANCELLED
        if action is JudgeAction.REJECT:
            if task_id and task_id in data.settled:
                return CommitOutcome.DUPLICATE
            return CommitOutcome.REJECTED
        if task_id in data.settled or task_id in data.review:
            return CommitOutcome.DUPLICATE
        if data.ledger.get(task_id) != expected:
            return CommitOutcome.DUPLICATE
        assert task is not None  # every action but reject has one
        return _settle(data, action, task, payload, due, item.delivery.traceparent)


def _settle(
    data: TenantData,
    action: JudgeAction,
    task: Task,
    payload: str,
    due: float,
    traceparent: str | None,
) -> CommitOutcome:
    if action is JudgeAction.APPROVE:
        if task.id in data.committed:
            return CommitOutcome.DUPLICATE
        data.committed[task.id] = payload
        data.settled[task.id] = settled_record.encode(Settled.COMMITTED)
        data.ledger.pop(task.id, None)
        data.count(task.session, Counter.COMMITTED)
        return CommitOutcome.COMMITTED
    if action is JudgeAction.DENY:
        data.settled[task.id] = settled_record.encode(Settled.DENIED)
        data.ledger.pop(task.id, None)
        data.count(task.session, Counter.DENIED)
        return CommitOutcome.DENIED
    if action is JudgeAction.REVIEW:
        data.review[task.id] = payload
        data.count(task.session, Counter.REVIEW)
        return CommitOutcome.REVIEW
    data.ledger[task.id] = payload
    data.delayed[payload] = due
    data.keep_trace(task.id, traceparent)
    data.count(task.session, Counter.RETRIED)
    return CommitOutcome.RETRIED
