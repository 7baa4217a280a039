"""How a judged Result becomes the unit of work's action: pure rules shared by every adapter."""

from __future__ import annotations

from chimera.lib.fields import JudgeAction
from chimera.lib.lua.judge_scripts import ApplyItem
from chimera.lib.lua.wrapper import PendingEvent
from chimera.lib.records import committed_result, review_item
from chimera.ports.judge import CommitOutcome, Judged
from chimera.ports.stores import ReviewItem


def task_id_to_match(item: Judged) -> str:
    """The task id ``JUDGE_APPLY`` may look up for ``item`` (``""``: none it may)."""
    if item.task is not None:
        return item.task.id
    result = item.delivery.message
    # Only a Result read from its own tenant's stream may be matched against that tenant's
    # settled tasks; a forged one must not learn anything from the reply.
    if result is not None and result.tenant == item.delivery.tenant:
        return result.task_id
    return ""


def judge_action(item: Judged) -> tuple[JudgeAction, str, float]:
    """What ``JUDGE_APPLY`` is to do with ``item``: the action, its payload, its due time."""
    intended = item.intended
    decision, result, task = item.decision, item.delivery.message, item.task
    if intended is CommitOutcome.REJECTED or decision is None or result is None or task is None:
        return JudgeAction.REJECT, "", 0.0
    if intended is CommitOutcome.COMMITTED:
        # The entry's body is the Result's JSON, validated as this Result when it was read:
        # committed as it came rather than serialised again.
        stored = item.delivery.raw or committed_result.encode(result)
        return JudgeAction.APPROVE, stored, 0.0
    if intended is CommitOutcome.REVIEW:
        parked = ReviewItem(task=task, result=result, decision=decision)
        return JudgeAction.REVIEW, review_item.encode(parked), 0.0
    if intended is CommitOutcome.RETRIED and item.retry_task is not None:
        return JudgeAction.RETRY, item.retry_task.model_dump_json(), item.retry_at or 0.0
    return JudgeAction.DENY, "", 0.0


def pending_events(item: Judged) -> tuple[PendingEvent, str]:
    """The ``(id, JSON)`` of ``item``'s outcome event, and its duplicate's id (``""``: none).

    The script derives the duplicate's record from the outcome's JSON when it needs it.
    The JSON is the event's own (:meth:`~chimera.models.audit.AuditEvent.stored_json`):
    the sinks store the same string once the commit is done.
    """
    if item.events is None:
        return None, ""
    done = item.events.done
    return (done.id, done.stored_json()), item.events.duplicate_id


def apply_item(item: Judged, expected_row: str) -> ApplyItem:
    """``item``'s part of a ``JUDGE_APPLY`` call; ``expected_row`` is its ledger row as read."""
    action, payload, due = judge_action(item)
    event, duplicate_id = pending_events(item)
    return ApplyItem(
        entry_id=item.delivery.entry_id,
        task_id=task_id_to_match(item),
        action=action,
        expected_row=expected_row,
        payload=payload,
        due=due,
        event=event,
        duplicate_id=duplicate_id,
        traceparent=item.delivery.traceparent or "",
    )
