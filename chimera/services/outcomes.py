"""Tasks by id: where one stands, waiting for outcomes, following a session's outcomes.

What ``chimera results --task``, ``chimera submit --wait`` and the Python client's
``result``, ``wait`` and ``outcomes`` share. Everything is read through the
:class:`~chimera.ports.stores.TaskStatusStore` (one consistent snapshot per tenant and call)
and the session store (a session's task ids); waiting polls with a growing pause.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from chimera.models.result import Result
from chimera.models.task import Task
from chimera.models.types import JsonValue
from chimera.ports.session import SessionStore
from chimera.ports.stores import TaskState, TaskStatus, TaskStatusStore
from chimera.services.sessions import NoSuchSession
from chimera.services.tenants import TenantScope

#: States a task does not leave by itself (review waits for a human, which is an outcome).
FINAL = frozenset(
    {
        TaskState.COMMITTED,
        TaskState.DENIED,
        TaskState.DEAD_LETTERED,
        TaskState.CANCELLED,
        TaskState.REVIEW,
    }
)

#: First and longest pause between two looks while waiting, in seconds.
FIRST_POLL_S = 0.02
MAX_POLL_S = 0.5


@dataclass(frozen=True)
class Outcome:
    """Where one task stands, as an application sees it.

    Attributes:
        task_id: the task.
        tenant: its tenant (``None`` when no tenant has a task by that id).
        state: ``pending`` (queued, running or waiting to retry), ``review``, ``committed``,
            ``denied``, ``dead_lettered``, ``cancelled`` or ``unknown``.
        session: its session, when known.
        skill: its skill, when known.
        attempt: the attempt it is at (pending, review) or the one that was committed.
        output: the committed output, or the output waiting for review.
        confidence: that output's confidence.
        reason: why it is where it is: the Judge's reason for a review, who cancelled it.
        result: the whole Result (committed, or waiting for review).
        task: the Task (pending, or in review).
    """

    task_id: str
    tenant: str | None
    state: TaskState
    session: str | None = None
    skill: str | None = None
    attempt: int | None = None
    output: dict[str, JsonValue] | None = None
    confidence: float | None = None
    reason: str | None = None
    result: Result | None = None
    task: Task | None = None

    @property
    def done(self) -> bool:
        """True once the task reached an outcome (waiting for review counts)."""
        return self.state in FINAL

    @property
    def committed(self) -> bool:
        """True when the task's output is committed."""
        return self.state is TaskState.COMMITTED

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict (what ``--json`` prints)."""
        return {
            "task_id": self.task_id,
            "tenant": self.tenant,
            "state": self.state.value,
            "session": self.session,
            "skill": self.skill,
            "attempt": self.attempt,
            "confidence": self.confidence,
            "reason": self.reason,
            "output": self.output,
            "prompt": self.result.prompt if self.result is not None else None,
            "previous": [
                p.model_dump(mode="json") for p in (self.task.previous if self.task else [])
            ],
        }


def outcome_of(status: TaskStatus, known: Task | None = None) -> Outcome:
    """The :class:`Outcome` of a looked-up task (``known``: the Task, if the caller has it)."""
    task = status.task or known
    result = status.result
    reason: str | None = None
    if status.decision is not None:
        reason = status.decision.reason
    elif status.cancellation is not None:
        note = status.cancellation
        reason = f"cancelled by {note.actor}" + (f": {note.reason}" if note.reason else "")
    elif status.state is TaskState.DENIED:
        reason = "denied by the Judge or a reviewer (why: `chimera task show`)"
    elif status.state is TaskState.DEAD_LETTERED:
        reason = "dead-lettered (why: `chimera task show`, or `chimera dlq list`)"
    session = task.session if task else (result.session if result else None)
    skill = task.skill if task else (result.skill if result else None)
    attempt = result.attempt if result else (task.attempt if task else None)
    return Outcome(
        task_id=status.task_id,
        tenant=status.tenant if status.state is not TaskState.UNKNOWN else None,
        state=status.state,
        session=session,
        skill=skill,
        attempt=attempt,
        output=result.output if result else None,
        confidence=result.confidence if result else None,
        reason=reason,
        result=result,
        task=task,
    )


class TaskLookup:
    """Finds tasks by id and waits for them.

    Args:
        states: task lookups by id.
        sessions: sessions and their task ids.
        scope: the swarm's tenants.
        sleep: how to pause between looks (tests pass their own).
    """

    def __init__(
        self,
        states: TaskStatusStore,
        sessions: SessionStore,
        scope: TenantScope,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.states = states
        self.sessions = sessions
        self.scope = scope
        self.sleep = sleep

    async def find(self, task_id: str, tenant: str | None = None) -> Outcome:
        """Where ``task_id`` stands, looked for in ``tenant`` (or every tenant, in order).

        Raises:
            UnknownTenant: ``tenant`` is not one of the swarm's.
        """
        for name in self.scope.select(tenant):
            status = await self.states.status(name, task_id)
            if status.state is not TaskState.UNKNOWN:
                return outcome_of(status)
        return Outcome(task_id=task_id, tenant=None, state=TaskState.UNKNOWN)

    async def wait(self, tasks: Sequence[Task], timeout_s: float | None = None) -> list[Outcome]:
        """Wait until every task reached an outcome, or ``timeout_s`` passed.

        Returns:
            One outcome per task, in order; those still unsettled at the timeout are
            ``pending``.
        """
        found: dict[str, Outcome] = {}
        deadline = None if timeout_s is None else asyncio.get_running_loop().time() + timeout_s
        pause = FIRST_POLL_S
        while True:
            await self._look(tasks, found)
            if len(found) == len({t.id for t in tasks}):
                break
            now = asyncio.get_running_loop().time()
            if deadline is not None and now >= deadline:
                break
            wait = pause if deadline is None else min(pause, deadline - now)
            await self.sleep(wait)
            pause = min(pause * 2, MAX_POLL_S)
        return [found.get(t.id) or outcome_of(_pending(t), t) for t in tasks]

    async def follow(
        self, tenant: str, session: str, poll_s: float = MAX_POLL_S, until_done: bool = True
    ) -> AsyncIterator[Outcome]:
        """Yield each task of ``session`` once, as it reaches its outcome.

        With ``until_done`` the iteration ends once every task submitted into the session
        so far has an outcome; otherwise it goes on (tasks submitted later are picked up).

        Raises:
            UnknownTenant: the swarm has no such tenant.
            NoSuchSession: the tenant has no such session.
        """
        self.scope.check([tenant])
        if await self.sessions.get(tenant, session) is None:
            raise NoSuchSession(f"tenant {tenant!r} has no session {session!r}")
        seen: set[str] = set()
        while True:
            ids = await self.sessions.task_ids(tenant, session)
            waiting = [task_id for task_id in ids if task_id not in seen]
            found = await self.states.settled(tenant, waiting) if waiting else {}
            for task_id in waiting:
                status = found.get(task_id)
                if status is not None and status.state in FINAL:
                    seen.add(task_id)
                    yield outcome_of(status)
            if until_done and len(seen) >= len(ids):
                return
            await self.sleep(poll_s)

    async def _look(self, tasks: Sequence[Task], found: dict[str, Outcome]) -> None:
        by_tenant: dict[str, list[Task]] = defaultdict(list)
        for task in tasks:
            if task.id not in found:
                by_tenant[task.tenant].append(task)
        for tenant, waiting in by_tenant.items():
            settled = await self.states.settled(tenant, [t.id for t in waiting])
            for task in waiting:
                status = settled.get(task.id)
                if status is not None and status.state in FINAL:
                    found[task.id] = outcome_of(status, task)


def _pending(task: Task) -> TaskStatus:
    return TaskStatus(task.id, task.tenant, TaskState.PENDING, task=task)
