"""Tasks planned with another swarm.yaml than the one this Worker runs (config drift).

During a rollout the Planner (``chimera submit``) may run a newer swarm.yaml than some
Workers. A Worker must never settle a task it cannot understand:

* its skill is unknown here, or not allowed for the tenant here: the task is handed back
  without counting an attempt, for an up-to-date Worker to take, and dead-lettered with
  a replayable reason once it has waited ``wait_s`` (see
  :func:`~chimera.services.worker.core.wait_for_update`);
* its skill is known but was planned with another definition (``Task.skill_fingerprint``):
  the task runs with this Worker's definition and the Worker says so in its log. Deferring
  every such task would strand the queue at each rollout, since new Workers would refuse
  what old Planners queued and old Workers would be gone. Only when the input does not
  fit this Worker's definition (its schema or prompt changed with it) does the task wait,
  as for an unknown skill.

Each kind of drift is logged once per skill, not per task.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from chimera.config.swarm import Swarm
from chimera.lib.logging import get_logger
from chimera.models.result import ErrorKind
from chimera.models.task import Task
from chimera.services.worker.core import Failure, GiveUp, Wait, cannot_run, wait_for_update

log = get_logger("chimera.worker")


class DriftGuard:
    """Decides about tasks planned with another swarm.yaml than this Worker's.

    Args:
        swarm: this Worker's swarm.
        wait_s: how long a task may wait for a Worker that can run it before it is
            dead-lettered.
        recheck_s: how long each hand-back lasts before some Worker looks again.
        clock: epoch seconds.
    """

    def __init__(
        self,
        swarm: Swarm,
        wait_s: float,
        recheck_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.swarm = swarm
        self.wait_s = wait_s
        self.recheck_s = recheck_s
        self.clock = clock
        self._said: set[tuple[str, ...]] = set()

    def before_run(self, task: Task, tenant: str) -> Wait | GiveUp | None:
        """Hand ``task`` back (or give up on it) if this Worker cannot run its skill at all."""
        reason = cannot_run(task, tenant, self.swarm)
        if reason is None:
            return None
        self._say_once(
            ("unknown", tenant, task.skill),
            "worker.skill_not_runnable_here",
            skill=task.skill,
            tenant=tenant,
            reason=reason,
            next=f"handing its tasks back for an up-to-date worker (for up to {self.wait_s:g}s)",
        )
        return wait_for_update(task, reason, self.clock(), self.wait_s, self.recheck_s)

    def planned_elsewhere(self, task: Task) -> bool:
        """Whether ``task`` was planned with another definition of its skill (said once)."""
        skill = self.swarm.skills.get(task.skill)
        planned = task.skill_fingerprint
        if skill is None or planned is None or planned == skill.fingerprint:
            return False
        self._say_once(
            ("differs", task.skill, planned),
            "worker.skill_definition_differs",
            skill=task.skill,
            planned_with=planned,
            running=skill.fingerprint,
            next="running its tasks with this worker's definition",
        )
        return True

    def after_failure(self, task: Task, failure: Failure) -> Wait | GiveUp | None:
        """Hand ``task`` back if its input does not fit this Worker's other definition."""
        if failure.kind is not ErrorKind.INVALID_INPUT or not self.planned_elsewhere(task):
            return None
        reason = (
            f"its input does not fit this worker's definition of skill {task.skill!r} "
            f"(planned with {task.skill_fingerprint}): {failure.message}"
        )
        return wait_for_update(task, reason, self.clock(), self.wait_s, self.recheck_s)

    def _say_once(self, key: tuple[str, ...], event: str, **fields: object) -> None:
        if key in self._said:
            return
        self._said.add(key)
        log.warning(event, **fields)
