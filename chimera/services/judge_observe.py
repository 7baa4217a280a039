"""What the Judge's decisions add to the metrics: verdicts, ended tasks, retries."""

from __future__ import annotations

from chimera.ports.judge import CommitOutcome, Judged
from chimera.ports.metrics import Metrics

#: Commit outcomes that end a task, by the name the metrics give them.
ENDED = {
    CommitOutcome.COMMITTED: "committed",
    CommitOutcome.DENIED: "denied",
    CommitOutcome.REVIEW: "review",
}


def count_judged(metrics: Metrics, item: Judged, outcome: CommitOutcome, now: float) -> None:
    """Count one applied decision.

    Args:
        metrics: where the counts go.
        item: the Result, its decision and its live task.
        outcome: what the unit of work did.
        now: epoch seconds; a task's duration runs from its creation to now.
    """
    decision = item.decision
    if decision is None:
        return
    tenant = item.delivery.tenant
    metrics.verdict(tenant, decision.skill, decision.verdict.value, decision.policy)
    task = item.task
    if task is None:
        return  # a Result for no live task (stale, forged): no task ended here
    if outcome is CommitOutcome.RETRIED:
        metrics.retried(tenant, task.skill, "judge")
        return
    name = ENDED.get(outcome)
    if name is not None:
        metrics.task_settled(tenant, task.skill, name, now - task.created_at.timestamp())
