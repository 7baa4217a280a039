"""The audit events the Judge writes: its decision (before the commit), and the outcome.

Each has an id built from what it is about, so a decision written again (a batch judged
again after a crash or a lost reply) is stored once. The outcome's event is handed to the
unit of work, which keeps it in the same atomic step as the commit (the pending audit
events), for the outcome that happens: the one asked for, or a duplicate.
"""

from __future__ import annotations

from chimera.lib.logging import redact_text, redact_value
from chimera.models.audit import AuditEvent, AuditEventType, event_id
from chimera.models.decision import Verdict
from chimera.models.excerpts import cut, json_text
from chimera.models.types import JsonValue
from chimera.ports.judge import CommitOutcome, Judged, OutcomeEvents


def decision_events(item: Judged, judge: str | None = None) -> list[AuditEvent]:
    """The record of the Judge's decision on ``item``, written before anything commits.

    ``judge`` names the Judge process (its consumer name), kept as ``data.judge``: the
    actor stays ``judge`` whichever process it was.
    """
    delivery, decision = item.delivery, item.decision
    if decision is None:
        return [
            AuditEvent(
                id=event_id(AuditEventType.DENIED, f"entry-{delivery.entry_id}"),
                type=AuditEventType.DENIED,
                tenant=delivery.tenant,
                actor="judge",
                data={
                    "entry_id": delivery.entry_id,
                    "reason": f"undecodable result entry: {delivery.problem}",
                    "raw": redact_text(delivery.raw),  # a bounded excerpt of the entry's bytes
                },
            )
        ]
    result = delivery.message
    # One record carries the Result's facts and the verdict on it: the decision is what
    # an auditor reads, and the Result it judged belongs beside it.
    data: dict[str, JsonValue] = {
        "verdict": decision.verdict.value,
        "reason": decision.reason,
        "policy": decision.policy,
        "confidence": decision.confidence,
        # Flat fields (two floats): the model's own dict copied is its ``model_dump()``,
        # at a fraction of the cost on every Result.
        "thresholds": dict(decision.thresholds.__dict__) if decision.thresholds else None,
        "retry": decision.retry,
        "genuine": item.task is not None,
        "skill": decision.skill,
    }
    if judge is not None:
        data["judge"] = judge
    if result is not None:
        data.update(
            status=result.status.value,
            attempt=result.attempt,
            error=result.error,
            error_kind=result.error_kind.value if result.error_kind else None,
            worker=result.worker,
            # No `started` record is written: the attempt's start is kept here.
            started_at=result.started_at.isoformat(),
            latency_ms=round(result.latency_ms, 3),
            prompt_tokens=result.usage.prompt_tokens,
            completion_tokens=result.usage.completion_tokens,
        )
        if decision.verdict is not Verdict.APPROVE:
            # Only a committed Result is stored whole: what a denied (or sent back, or
            # parked) attempt was asked and answered is kept here, bounded, so the task's
            # story can show it (`chimera task show`).
            prompt = cut(redact_text(result.prompt)) if result.prompt else None
            data.update(prompt=prompt, output=json_text(redact_value(result.output)))
    attempt = result.attempt if result is not None else 0
    return [
        AuditEvent(
            id=event_id(AuditEventType.DECISION, decision.task_id, attempt),
            type=AuditEventType.DECISION,
            tenant=delivery.tenant,
            session=decision.session,
            task_id=decision.task_id,
            trace_id=result.trace_id if result else None,
            actor=decision.actor,
            data=data,
        )
    ]


_OUTCOME_EVENT = {
    CommitOutcome.COMMITTED: AuditEventType.COMMITTED,
    CommitOutcome.DENIED: AuditEventType.DENIED,
    CommitOutcome.REVIEW: AuditEventType.REVIEW,
    CommitOutcome.RETRIED: AuditEventType.RETRIED,
    CommitOutcome.DUPLICATE: AuditEventType.DUPLICATE,
    CommitOutcome.REJECTED: AuditEventType.DENIED,
    CommitOutcome.CANCELLED: AuditEventType.CANCELLED,
}


def with_outcome_events(item: Judged, judge: str | None = None) -> Judged:
    """``item`` carrying the event of the outcome asked for and its duplicate's id.

    Nothing for an undecodable entry. The duplicate's event itself is made only if the
    commit reports a duplicate (:class:`~chimera.ports.judge.OutcomeEvents`).
    """
    done = outcome_event(item, item.intended, judge)
    if done is None:
        return item
    # Only the duplicate's id: its event is ``done`` under that id (``duplicate_event``),
    # made (and its pending record derived by the script) only when a duplicate happens.
    result = item.delivery.message
    attempt = result.attempt if result is not None else 0
    duplicate_id = event_id(
        CommitOutcome.DUPLICATE.value, done.task_id or "", attempt, item.delivery.entry_id
    )
    # ``dataclasses.replace`` costs several times more per Result than this copy of its
    # fields (all of them, whatever fields Judged gains).
    return Judged(
        **{**item.__dict__, "events": OutcomeEvents(done=done, duplicate_id=duplicate_id)}
    )


def outcome_event(
    item: Judged, outcome: CommitOutcome, judge: str | None = None
) -> AuditEvent | None:
    """The record of what the commit did with ``item``; ``None`` for an undecodable entry.

    A duplicate's id names the Result's entry (each late copy is its own event); every
    other outcome is one per task and attempt.
    """
    decision, result = item.decision, item.delivery.message
    if decision is None:
        return None
    attempt = result.attempt if result is not None else 0
    data: dict[str, JsonValue] = {"outcome": outcome.value, "skill": decision.skill}
    if judge is not None:
        data["judge"] = judge
    if item.retry_task is not None and outcome is CommitOutcome.RETRIED:
        data["next_attempt"] = item.retry_task.attempt
    if outcome in (CommitOutcome.DUPLICATE, CommitOutcome.CANCELLED):
        about: tuple[object, ...] = (decision.task_id, attempt, item.delivery.entry_id)
    elif outcome is CommitOutcome.REJECTED:
        about = (f"entry-{item.delivery.entry_id}",)
    else:
        about = (decision.task_id, attempt)
    return AuditEvent(
        id=event_id(outcome.value, *about),
        type=_OUTCOME_EVENT[outcome],
        tenant=item.delivery.tenant,
        session=decision.session,
        task_id=decision.task_id,
        trace_id=item.delivery.message.trace_id if item.delivery.message else None,
        actor="judge",
        data=data,
    )
