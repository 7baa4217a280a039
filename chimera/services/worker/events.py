"""The audit events a Worker emits, built in one place.

Every event names the tenant of the stream the entry came from, never the tenant a task's
body claims: a task placed in the wrong tenant's stream must not write into another
tenant's audit trail.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chimera.lib.logging import redact_text
from chimera.models.audit import AuditEvent, AuditEventType, event_id
from chimera.models.excerpts import cut
from chimera.models.task import Task
from chimera.models.types import JsonValue, utc_now
from chimera.ports.queue import DeadLetter, Delivery
from chimera.ports.stores import ReviewItem
from chimera.services.worker.agent import ToolCallRecord

if TYPE_CHECKING:
    from chimera.services.worker.task_run import TaskRun

#: How much of an entry that was none of the tenant's tasks its audit event keeps.
MAX_RAW_CHARS = 2000
#: How much of an attempt's error its audit events keep.
MAX_ERROR_EXCERPT = 500


def task_event(
    kind: AuditEventType,
    delivery: Delivery[Task],
    consumer: str,
    data: dict[str, JsonValue] | None = None,
    task: Task | None = None,
    about: tuple[object, ...] = (),
) -> AuditEvent:
    """An event about the task of ``delivery`` (or ``task``, its next attempt).

    Its id is the kind, the task (or, for an undecodable entry, the entry) and ``about``:
    the same event reported again (a flush retried after a lost reply) keeps its id.
    """
    subject = task or delivery.message
    base: dict[str, JsonValue] = {"entry_id": delivery.entry_id}
    if subject is not None:
        base.update(skill=subject.skill, attempt=subject.attempt)
    who = subject.id if subject is not None else f"entry-{delivery.entry_id}"
    return AuditEvent(
        id=event_id(kind, who, *about),
        type=kind,
        tenant=delivery.tenant,
        session=subject.session if subject else None,
        task_id=subject.id if subject else None,
        trace_id=subject.trace_id if subject else None,
        actor=f"worker:{consumer}",
        data={**base, **(data or {})},
    )


def reclaimed(delivery: Delivery[Task], consumer: str) -> AuditEvent:
    """The Worker took the entry over from a consumer that stopped renewing its lease."""
    data: dict[str, JsonValue] = {"deliveries": delivery.deliveries}
    about = (delivery.entry_id, delivery.deliveries)
    return task_event(AuditEventType.RECLAIMED, delivery, consumer, data, about=about)


def retried(
    delivery: Delivery[Task], consumer: str, next_task: Task, due: float, error: str
) -> AuditEvent:
    """The attempt failed and ``next_task`` runs at ``due``."""
    data: dict[str, JsonValue] = {"attempt": next_task.attempt, "due": due, "error": error[:500]}
    about = (next_task.attempt - 1,)
    return task_event(AuditEventType.RETRIED, delivery, consumer, data, next_task, about)


def dead_lettered(delivery: Delivery[Task], consumer: str, letter: DeadLetter) -> AuditEvent:
    """The task (or an entry that was none of the tenant's) was given up on.

    An entry that is not a task of the tenant's ledger is recorded by its entry id and an
    excerpt of its bytes, under no session: a forged body's ids are not the tenant's.
    """
    data: dict[str, JsonValue] = {
        "reason": letter.reason,
        "attempts": letter.attempts,
        "error": letter.last_error[:500] if letter.last_error else None,
    }
    about = (delivery.entry_id,)
    if not letter.in_ledger:
        data["raw"] = redact_text(delivery.raw[:MAX_RAW_CHARS])
        kind = AuditEventType.DEAD_LETTERED
        return AuditEvent(
            id=event_id(kind, f"entry-{delivery.entry_id}", *about),
            type=kind,
            tenant=delivery.tenant,
            actor=f"worker:{consumer}",
            data={"entry_id": delivery.entry_id, **data},
        )
    return task_event(AuditEventType.DEAD_LETTERED, delivery, consumer, data, about=about)


def discarded(delivery: Delivery[Task], consumer: str, reason: str) -> AuditEvent:
    """A stale copy of a task is acked and deleted without running."""
    data: dict[str, JsonValue] = {"reason": reason}
    about = ("discarded", delivery.entry_id)
    return task_event(AuditEventType.DUPLICATE, delivery, consumer, data, about=about)


def tool_call(delivery: Delivery[Task], consumer: str, record: ToolCallRecord) -> AuditEvent:
    """One tool call of an attempt: which, how long, how big an answer, any error."""
    data: dict[str, JsonValue] = {
        "call_id": record.call_id,
        "server": record.server,
        "tool": record.tool,
        "arguments_digest": record.arguments_digest,
        "duration_ms": record.duration_ms,
        "result_chars": record.result_chars,
        "is_error": record.is_error,
        "error": record.error,
    }
    attempt = delivery.message.attempt if delivery.message else 0
    about = (attempt, delivery.deliveries, record.call_id)
    return task_event(AuditEventType.TOOL_CALL, delivery, consumer, data, about=about)


def attempt_failed(
    delivery: Delivery[Task], consumer: str, run: TaskRun, error: str | None
) -> AuditEvent:
    """An attempt that produced no output (retried, dead-lettered, or a failed Result).

    Its rendered prompt and the model's last answer are kept, each cut to
    :data:`~chimera.models.excerpts.MAX_STORY_CHARS`: no stored record has them, and they
    are what explains the failure (``chimera task show``).
    """
    started = run.started_at
    data: dict[str, JsonValue] = {
        "status": "failed",
        "error": error[:MAX_ERROR_EXCERPT] if error else None,
        # The answer came from a backend, which may echo what it was sent: no secrets.
        "prompt": cut(redact_text(run.prompt)) if run.prompt else None,
        "answer": cut(redact_text(run.answer)) if run.answer else None,
        "steps": run.steps,
        "started_at": started.isoformat() if started else None,
        "latency_ms": round((utc_now() - started).total_seconds() * 1000.0, 3) if started else None,
    }
    attempt = delivery.message.attempt if delivery.message else 0
    about = (attempt, delivery.deliveries)
    return task_event(AuditEventType.RESULT, delivery, consumer, data, about=about)


def log_ids(delivery: Delivery[Task]) -> dict[str, str | None]:
    """The ids every log line about a task carries: tenant, entry, session, task, trace."""
    task = delivery.message
    return {
        "tenant": delivery.tenant,
        "entry_id": delivery.entry_id,
        "session": task.session if task else None,
        "task_id": task.id if task else None,
        "trace_id": task.trace_id if task else None,
    }


def parked(delivery: Delivery[Task], consumer: str, item: ReviewItem) -> AuditEvent:
    """The task waits in the review queue: its agent stopped at sensitive tool calls."""
    attempt = delivery.message.attempt if delivery.message else 0
    calls = item.details.get("tool_calls", [])
    data: dict[str, Any] = {
        "kind": "tool_calls",
        "tools": [call.get("tool") for call in calls],
        "reason": item.decision.reason,
    }
    steps = len(item.details.get("paused", {}).get("messages", []))
    about = (attempt, "tool_calls", steps)
    return task_event(AuditEventType.REVIEW, delivery, consumer, data, about=about)
