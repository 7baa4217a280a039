"""Human review: list parked Results, show one, approve or reject them (one or many by filter).

Every decision is audited with the human as actor, before it is applied, one record per
item. A rejection may send the task back for another attempt with the reviewer's reason as
its ``feedback`` (the prompt sees it as ``{{ feedback }}``), within the skill's attempt limit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from chimera.lib.logging import get_logger
from chimera.models.audit import AuditEvent, AuditEventType, event_id
from chimera.models.task import Task
from chimera.models.types import JsonValue, new_id, utc_now
from chimera.ports.audit import PendingAudit
from chimera.ports.judge import AuditLogger, CommitOutcome, OutcomeEvents
from chimera.ports.stores import ReviewItem, ReviewStore
from chimera.services.errors import RequestError
from chimera.services.tenants import TenantScope
from chimera.services.worker.approval import is_tool_approval, resumed_task

log = get_logger("chimera.review")


class ReviewNotFound(RequestError):
    """No parked Result has that task id (never parked, or already decided)."""


class RetryRefused(RequestError):
    """The task has used every attempt its skill allows: it cannot be sent back."""


@dataclass(frozen=True)
class HumanDecision:
    """What happened to a reviewed item.

    ``outcome`` is ``committed``, ``denied``, ``duplicate`` (committed meanwhile),
    ``retried`` (sent back for another attempt), ``missing`` (decided by someone else
    first) or ``refused`` (a retry past the attempt limit; ``detail`` says why).
    """

    tenant: str
    task_id: str
    outcome: str
    detail: str | None = None


@dataclass(frozen=True)
class ReviewFilter:
    """Which parked items a listing or a bulk decision covers; ``None`` means any.

    Ages run from when the item was parked (the Judge's decision) to now.
    """

    tenant: str | None = None
    skill: str | None = None
    older_than: timedelta | None = None
    newer_than: timedelta | None = None

    def matches(self, item: ReviewItem, now: datetime) -> bool:
        """Whether ``item`` (of a tenant already selected) passes the skill and age tests."""
        if self.skill is not None and item.task.skill != self.skill:
            return False
        age = now - item.decision.decided_at
        if self.older_than is not None and age < self.older_than:
            return False
        return self.newer_than is None or age <= self.newer_than


class ReviewService:
    """Lets a human see and decide on Results the Judge parked.

    Args:
        store: the parked items.
        audit: every human decision is recorded here before it is applied; the event of
            what it came to is kept pending by the store in the same atomic step, then
            handed to the sinks and cleared from ``pending_audit``.
        tenants: the tenants this service may see.
        pending_audit: where kept events are cleared once the sinks have them.
        attempt_budget: how many attempts a task may have (its skill's limit); a retry is
            refused once the task is at it. Default: the limit the task carries.
        clock: now, for ages.
    """

    def __init__(
        self,
        store: ReviewStore,
        audit: AuditLogger,
        tenants: Sequence[str],
        pending_audit: PendingAudit | None = None,
        attempt_budget: Callable[[Task], int] | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.store = store
        self.audit = audit
        self.scope = TenantScope(tenants)
        self.pending_audit = pending_audit
        self.attempt_budget = attempt_budget or (lambda task: task.max_attempts)
        self.clock = clock

    async def pending(
        self, tenant: str | None = None, where: ReviewFilter | None = None
    ) -> list[tuple[str, ReviewItem]]:
        """Every parked item as ``(tenant, item)``, optionally filtered.

        Raises:
            UnknownTenant: the swarm has no such tenant (``tenant`` or ``where.tenant``).
        """
        where = where or ReviewFilter()
        now = self.clock()
        out: list[tuple[str, ReviewItem]] = []
        for name in self.scope.select(tenant or where.tenant):
            out.extend((name, i) for i in await self.store.list(name) if where.matches(i, now))
        return out

    async def show(self, task_id: str) -> tuple[str, ReviewItem]:
        """The parked item of ``task_id`` with its tenant.

        Raises:
            ReviewNotFound: nothing parked under that id.
        """
        for tenant, item in await self.pending():
            if item.task.id == task_id:
                return tenant, item
        raise ReviewNotFound(f"no result waits for review under task id {task_id}")

    async def decide(
        self, task_id: str, approve: bool, actor: str, note: str | None = None
    ) -> HumanDecision:
        """Approve (commit) or reject the parked Result of ``task_id``.

        Raises:
            ReviewNotFound: nothing parked under that id (or decided meanwhile).
        """
        tenant, item = await self.show(task_id)
        decided = await self._decide(tenant, item, approve, actor, note)
        if decided.outcome == "missing":
            raise ReviewNotFound(f"task {task_id} was decided by someone else meanwhile")
        return decided

    async def retry(self, task_id: str, reason: str, actor: str) -> HumanDecision:
        """Reject the parked Result of ``task_id`` and send the task back with ``reason``.

        The next attempt carries ``reason`` as its ``feedback`` and the rejected attempt in
        its ``previous`` notes; it is queued at once.

        Raises:
            ReviewNotFound: nothing parked under that id (or decided meanwhile).
            RetryRefused: the task is at its attempt limit.
        """
        tenant, item = await self.show(task_id)
        decided = await self._retry(tenant, item, reason, actor)
        if decided.outcome == "missing":
            raise ReviewNotFound(f"task {task_id} was decided by someone else meanwhile")
        if decided.outcome == "refused":
            raise RetryRefused(decided.detail or "no attempt left")
        return decided

    async def decide_all(
        self,
        where: ReviewFilter,
        approve: bool,
        actor: str,
        note: str | None = None,
        retry: bool = False,
    ) -> list[HumanDecision]:
        """Approve or reject every parked item ``where`` selects, each on its own.

        Each item is audited and applied separately; one decided by someone else meanwhile
        reads ``missing``, a retry past the attempt limit ``refused``, and the others go on.
        ``retry`` (rejections only) sends each task back with ``note`` as its feedback.

        Raises:
            UnknownTenant: ``where.tenant`` is not one of the swarm's.
        """
        decided = []
        for tenant, item in await self.pending(where=where):
            if retry and not approve:
                decided.append(await self._retry(tenant, item, note or "", actor))
            else:
                decided.append(await self._decide(tenant, item, approve, actor, note))
        return decided

    async def _decide(
        self, tenant: str, item: ReviewItem, approve: bool, actor: str, note: str | None
    ) -> HumanDecision:
        if is_tool_approval(item):
            return await self._answer_tool_calls(tenant, item, approve, actor, note)
        verdict = "approve" if approve else "reject"
        # One id for this decision: written again after a lost reply, it is stored once.
        token = new_id()
        human: dict[str, JsonValue] = {
            "verdict": verdict,
            "note": note,
            "judge_reason": item.decision.reason,
        }
        await self.audit.record(
            [_event(AuditEventType.HUMAN_DECISION, tenant, item, actor, human, token)]
        )
        kind = AuditEventType.COMMITTED if approve else AuditEventType.DENIED
        events = OutcomeEvents(
            done=_event(kind, tenant, item, actor, {"outcome": kind.value}, token),
            duplicate_id=event_id(AuditEventType.DUPLICATE, item.task.id, "human", token),
        )
        outcome = await self.store.decide(tenant, item, approve, events)
        if outcome != "missing":
            await self._report(events.pick(CommitOutcome(outcome)))
        return HumanDecision(tenant=tenant, task_id=item.task.id, outcome=outcome)

    async def _answer_tool_calls(
        self, tenant: str, item: ReviewItem, approve: bool, actor: str, note: str | None
    ) -> HumanDecision:
        """Resume a conversation stopped at sensitive tool calls, with the human's answer.

        Approved, the calls run on the Worker that takes the task; refused, the model gets
        the refusal (``note``) as the calls' result. Either way the same attempt goes on.
        """
        token = new_id()
        calls = [call.get("tool") for call in item.details.get("tool_calls", [])]
        human: dict[str, JsonValue] = {
            "verdict": "approve" if approve else "reject",
            "note": note,
            "kind": "tool_calls",
            "tools": calls,
        }
        await self.audit.record(
            [_event(AuditEventType.HUMAN_DECISION, tenant, item, actor, human, token)]
        )
        resumed = resumed_task(item, approve, note, by=f"human:{actor}")
        data: dict[str, JsonValue] = {"approved": approve, "tools": calls}
        event = _event(AuditEventType.RESUMED, tenant, item, actor, data, token)
        outcome = await self.store.resume(tenant, item, resumed, event)
        if outcome == "retried":
            await self._report(event)
            outcome = "resumed"
        return HumanDecision(tenant=tenant, task_id=item.task.id, outcome=outcome)

    async def _retry(self, tenant: str, item: ReviewItem, reason: str, actor: str) -> HumanDecision:
        if is_tool_approval(item):
            # Nothing to try again yet: the refusal, with its reason, goes to the model.
            return await self._answer_tool_calls(tenant, item, False, actor, reason)
        task = item.task
        budget = self.attempt_budget(task)
        if task.attempt >= budget:
            detail = (
                f"task {task.id} is at attempt {task.attempt} of {budget} (the limit of skill "
                f"{task.skill!r}): it cannot be tried again; reject it without --retry, or "
                "approve it"
            )
            return HumanDecision(tenant, task.id, "refused", detail)
        following = task.next_attempt(
            reason,
            by=f"human:{actor}",
            confidence=item.result.confidence,
            output=item.result.output,
        )
        human: dict[str, JsonValue] = {
            "verdict": "reject",
            "retry": True,
            "note": reason,
            "judge_reason": item.decision.reason,
        }
        token = new_id()
        await self.audit.record(
            [_event(AuditEventType.HUMAN_DECISION, tenant, item, actor, human, token)]
        )
        data: dict[str, JsonValue] = {"outcome": "retried", "next_attempt": following.attempt}
        retried = _event(AuditEventType.RETRIED, tenant, item, actor, data, token)
        outcome = await self.store.retry(tenant, item, following, retried)
        if outcome == "retried":
            await self._report(retried)
        return HumanDecision(tenant=tenant, task_id=task.id, outcome=outcome)

    async def _report(self, event: AuditEvent) -> None:
        """The outcome's event, kept pending by the decision, to the sinks; then cleared."""
        try:
            await self.audit.record([event])
            if self.pending_audit is not None:
                await self.pending_audit.clear([event])
        except Exception as exc:
            # Applied, and the event waits in Redis beside it: the audit sweep sends it.
            log.warning("review.outcome_audit_deferred", error=repr(exc), task_id=event.task_id)


def _event(
    kind: AuditEventType,
    tenant: str,
    item: ReviewItem,
    actor: str,
    data: dict[str, JsonValue],
    token: str,
) -> AuditEvent:
    return AuditEvent(
        id=event_id(kind, item.task.id, "human", token),
        type=kind,
        tenant=tenant,
        session=item.task.session,
        task_id=item.task.id,
        trace_id=item.task.trace_id,
        actor=f"human:{actor}",
        data={"skill": item.task.skill, "attempt": item.task.attempt, **data},
    )
