"""Results of tasks planned with a newer swarm.yaml than the Judge's own (config drift).

A Judge must not settle what it cannot understand. When its swarm does not know a
Result's skill (or does not let the tenant run it), the Result is left pending: its lease
is not renewed, so after one lease any Judge may take it over, and an up-to-date one
judges it. Once the Result is older than ``wait_s`` its task is dead-lettered with a
replayable reason instead. A skill known here but planned with another definition is
judged with this Judge's definition (said once in the log), unless its output does not
fit this definition's schema: then it waits, as for an unknown skill.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from chimera.config.swarm import Swarm
from chimera.lib.logging import get_logger
from chimera.models.audit import AuditEvent, AuditEventType, event_id
from chimera.models.result import Result, ResultStatus
from chimera.models.task import Task
from chimera.ports.judge import Unjudgeable
from chimera.ports.queue import DeadLetter, Delivery
from chimera.services.worker.core import cannot_run

log = get_logger("chimera.judge")


class ResultDrift:
    """Tells which Results this Judge cannot judge, and remembers those it leaves pending.

    Args:
        swarm: this Judge's swarm.
        wait_s: how old a Result may get, waiting for a Judge that can judge it, before
            its task is dead-lettered.
        lease_ms: the lease; what is left pending is forgotten after two of them (by then
            some Judge has taken it over, maybe this one again).
        clock: epoch seconds.
    """

    def __init__(
        self,
        swarm: Swarm,
        wait_s: float,
        lease_ms: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.swarm = swarm
        self.wait_s = wait_s
        self.forget_after_s = 2 * lease_ms / 1000.0
        self.clock = clock
        self._left: dict[tuple[str, str], float] = {}
        self._said: set[tuple[str, ...]] = set()

    def why_not(self, delivery: Delivery[Result], task: Task | None) -> str | None:
        """Why this Judge cannot judge ``delivery`` (its genuine task's skill), if it cannot."""
        result = delivery.message
        if task is None or result is None:
            return None  # not a live task of the tenant: the Judge rejects it as usual
        reason = cannot_run(task, delivery.tenant, self.swarm)
        if reason is not None:
            return reason.replace("worker's", "judge's")
        skill = self.swarm.skills[task.skill]
        planned = task.skill_fingerprint
        if planned is None or planned == skill.fingerprint:
            return None
        self._say_once(
            ("differs", task.skill, planned),
            "judge.skill_definition_differs",
            skill=task.skill,
            planned_with=planned,
            running=skill.fingerprint,
            next="judging its Results with this judge's definition",
        )
        if result.status is ResultStatus.SUCCEEDED and skill.output_errors(result.output):
            return (
                f"its output does not fit this judge's definition of skill {task.skill!r} "
                f"(planned with {planned})"
            )
        return None

    def is_left(self, delivery: Delivery[Result]) -> bool:
        """Whether this Judge left ``delivery`` pending for an up-to-date Judge lately."""
        since = self._left.get(delivery.key)
        return since is not None and self.clock() - since < self.forget_after_s

    def overdue(self, delivery: Delivery[Result]) -> bool:
        """Whether the Result has waited ``wait_s`` since its Worker finished it."""
        result = delivery.message
        assert result is not None
        return self.clock() - result.finished_at.timestamp() >= self.wait_s

    def leave(self, delivery: Delivery[Result], task: Task, reason: str) -> None:
        """Leave ``delivery`` pending (not renewed, not acked) for another Judge."""
        now = self.clock()
        self._left = {k: t for k, t in self._left.items() if now - t < self.forget_after_s}
        self._left.setdefault(delivery.key, now)
        self._say_once(
            ("unknown", delivery.tenant, task.skill),
            "judge.skill_not_judgeable_here",
            skill=task.skill,
            tenant=delivery.tenant,
            reason=reason,
            next=f"leaving its Results for an up-to-date judge (for up to {self.wait_s:g}s)",
        )

    def give_up(self, delivery: Delivery[Result], task: Task, reason: str) -> Unjudgeable:
        """The dead letter (and its audit event) of a Result no Judge judged in time."""
        self._left.pop(delivery.key, None)
        text = (
            f"config drift: {reason}, and no judge that took its Result could judge it "
            f"within {self.wait_s:g}s; replay it once the judges run the swarm.yaml it "
            "was planned with"
        )
        letter = DeadLetter(text, task.attempt, None)
        event = AuditEvent(
            id=event_id(AuditEventType.DEAD_LETTERED, task.id, "judge", delivery.entry_id),
            type=AuditEventType.DEAD_LETTERED,
            tenant=delivery.tenant,
            session=task.session,
            task_id=task.id,
            trace_id=task.trace_id,
            actor="judge",
            data={"entry_id": delivery.entry_id, "reason": text, "attempts": task.attempt},
        )
        return Unjudgeable(delivery, task, letter, event)

    def _say_once(self, key: tuple[str, ...], event: str, **fields: object) -> None:
        if key in self._said:
            return
        self._said.add(key)
        log.warning(event, **fields)
