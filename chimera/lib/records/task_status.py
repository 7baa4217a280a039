"""Where a task stands, read off its rows in the tenant's hashes.

The committed, review, settled and ledger rows are consulted in that order: the first
that exists says where the task is. A cancelled task's settled row is ``cancelled``; who
cancelled it is read from its row in the cancelled hash.
"""

from __future__ import annotations

from chimera.lib.records import RecordError, cancellation, committed_result, review_item, settled
from chimera.models.task import Task
from chimera.ports.stores import TaskState, TaskStatus


def task_status(
    tenant: str,
    task_id: str,
    committed: str | None,
    review: str | None,
    settled_row: str | None,
    ledger: str | None,
    cancelled: str | None = None,
) -> TaskStatus:
    """Where a task stands, from its rows in the tenant's hashes (``None``: no row).

    Raises:
        RecordError: the committed Result or the settled row cannot be read.
    """
    if committed is not None:
        result = committed_result.decode(committed)
        return TaskStatus(task_id, tenant, TaskState.COMMITTED, result=result)
    if review is not None:
        # Items parked for other reasons (a sensitive tool call) may carry other fields;
        # the state is what matters, the parts are shown where they parse.
        parts = review_item.decode_parts(review)
        return TaskStatus(
            task_id,
            tenant,
            TaskState.REVIEW,
            task=parts.task,
            result=parts.result,
            decision=parts.decision,
        )
    if settled_row is not None:
        # The settled words (committed, denied, dead_lettered, cancelled) are states too.
        state = TaskState(settled.decode(settled_row).value)
        note = None
        if state is TaskState.CANCELLED and cancelled is not None:
            try:
                note = cancellation.decode(cancelled)
            except RecordError:
                note = None  # the state is what matters; who cancelled it is a detail
        return TaskStatus(task_id, tenant, state, cancellation=note)
    if ledger is not None:
        task = Task.model_validate_json(ledger)
        return TaskStatus(task_id, tenant, TaskState.PENDING, task=task)
    return TaskStatus(task_id, tenant, TaskState.UNKNOWN)
