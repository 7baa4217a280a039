"""How a judged Result becomes the unit of work's action: pure rules shared by every adapter."""

from __future__ import annotations

from chimera.lib.fields import JudgeAction
from chimera.lib.records import committed_result, review_item
from chimera.models.decision import Verdict
from chimera.ports.judge import Judged
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
    decision, result = item.decision, item.delivery.message
    if item.task is None or decision is None or result is None:
        return JudgeAction.REJECT, "", 0.0
    if decision.verdict is Verdict.APPROVE:
        return JudgeAction.APPROVE, committed_result.encode(result), 0.0
    if decision.verdict is Verdict.REVIEW:
        parked = ReviewItem(task=item.task, result=result, decision=decision)
        return JudgeAction.REVIEW, review_item.encode(parked), 0.0
    if decision.retry and item.retry_task is not None and item.retry_at is not None:
        return JudgeAction.RETRY, item.retry_task.model_dump_json(), item.retry_at
    return JudgeAction.DENY, "", 0.0
