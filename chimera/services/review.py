"""Human review: list parked Results, approve or reject them, audited with the human as actor."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chimera.lib.logging import get_logger
from chimera.models.audit import AuditEvent, AuditEventType, event_id
from chimera.models.types import JsonValue, new_id
from chimera.ports.audit import PendingAudit
from chimera.ports.judge import AuditLogger, CommitOutcome, OutcomeEvents
from chimera.ports.stores import ReviewItem, ReviewStore
from chimera.services.errors import RequestError
from chimera.services.tenants import TenantScope

log = get_logger("chimera.review")


class ReviewNotFound(RequestError):
    """No parked Result has that task id (never parked, or already decided)."""


@dataclass(frozen=True)
class HumanDecision:
    """What happened to a reviewed item."""

    tenant: str
    task_id: str
    outcome: str


class ReviewService:
    """Lets a human decide on Results the Judge parked.

    The decision is written to the audit sinks before it is applied, as the Judge's are.
    """

    def __init__(
        self,
        store: ReviewStore,
        audit: AuditLogger,
        tenants: Sequence[str],
        pending_audit: PendingAudit | None = None,
    ) -> None:
        self.store = store
        self.audit = audit
        self.scope = TenantScope(tenants)
        self.pending_audit = pending_audit

    async def pending(self, tenant: str | None = None) -> list[tuple[str, ReviewItem]]:
        """Every parked item as ``(tenant, item)``, optionally for one tenant.

        Raises:
            UnknownTenant: the swarm has no such tenant.
        """
        out: list[tuple[str, ReviewItem]] = []
        for name in self.scope.select(tenant):
            out.extend((name, item) for item in await self.store.list(name))
        return out

    async def decide(
        self, task_id: str, approve: bool, actor: str, note: str | None = None
    ) -> HumanDecision:
        """Approve (commit) or reject the parked Result of ``task_id``.

        Raises:
            ReviewNotFound: nothing parked under that id.
        """
        for tenant, item in await self.pending():
            if item.task.id != task_id:
                continue
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
                duplicate=_event(
                    AuditEventType.DUPLICATE, tenant, item, actor, {"outcome": "duplicate"}, token
                ),
            )
            outcome = await self.store.decide(tenant, item, approve, events)
            if outcome == "missing":
                raise ReviewNotFound(f"task {task_id} was decided by someone else meanwhile")
            await self._report(events.pick(CommitOutcome(outcome)))
            return HumanDecision(tenant=tenant, task_id=task_id, outcome=outcome)
        raise ReviewNotFound(f"no result waits for review under task id {task_id}")

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
        data={"skill": item.task.skill, **data},
    )
