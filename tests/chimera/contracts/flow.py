"""Drives tasks through a backend's queue and unit of work: enqueue, work, judge."""

from __future__ import annotations

from datetime import timedelta

from chimera.models.decision import Decision, Verdict
from chimera.models.result import Result, ResultStatus
from chimera.models.task import Task
from chimera.models.types import utc_now
from chimera.ports.judge import CommitOutcome, Judged
from chimera.ports.queue import Delivery
from tests.chimera.contracts.backends import Backend

EXPECTED = {
    Verdict.APPROVE: CommitOutcome.COMMITTED,
    Verdict.REVIEW: CommitOutcome.REVIEW,
    Verdict.DENY: CommitOutcome.DENIED,
}


def make_task(i: int = 0, tenant: str = "acme", session: str = "s1") -> Task:
    return Task(tenant=tenant, session=session, skill="summarise", input={"i": i})


def result_for(task: Task, confidence: float = 0.6) -> Result:
    now = utc_now()
    return Result(
        task_id=task.id,
        tenant=task.tenant,
        session=task.session,
        skill=task.skill,
        attempt=task.attempt,
        status=ResultStatus.SUCCEEDED,
        output={"summary": f"summary of {task.input['i']}"},
        confidence=confidence,
        worker="w1",
        trace_id=task.trace_id,
        started_at=now,
        finished_at=now + timedelta(milliseconds=5),
    )


def decision_for(result: Result, verdict: Verdict, retry: bool = False) -> Decision:
    return Decision(
        task_id=result.task_id,
        tenant=result.tenant,
        session=result.session,
        skill=result.skill,
        verdict=verdict,
        reason=f"test says {verdict.value}",
        policy="threshold",
        confidence=result.confidence,
        retry=retry,
    )


class Flow:
    """Runs tasks through the ports of one backend as a Worker and a Judge would."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.queue = backend.queue
        self.uow = backend.uow

    async def read(self, tasks: list[Task]) -> list[Delivery[Task]]:
        await self.queue.enqueue(tasks)
        tenants = sorted({t.tenant for t in tasks})
        got = await self.queue.read_tasks("w1", tenants, count=len(tasks), block_ms=10)
        assert len(got) == len(tasks)
        return got

    async def results(self, tasks: list[Task]) -> list[Delivery[Result]]:
        """Run ``tasks`` to a Result each and read the Results as a Judge."""
        deliveries = await self.read(tasks)
        by_id = {t.id: t for t in tasks}
        done = [(d, result_for(by_id[d.message.id])) for d in deliveries if d.message]
        await self.queue.complete(done)
        tenants = sorted({t.tenant for t in tasks})
        return await self.queue.read_results("j1", tenants, count=len(tasks), block_ms=10)

    async def judge(self, tasks: list[Task], verdict: Verdict) -> list[tuple[Task, Result]]:
        """Run ``tasks`` to a Result each and apply ``verdict`` to all of them."""
        by_id = {t.id: t for t in tasks}
        judged = []
        for delivery in await self.results(tasks):
            assert delivery.message is not None
            task = by_id[delivery.message.task_id]
            decision = decision_for(delivery.message, verdict)
            judged.append(Judged(delivery=delivery, decision=decision, task=task))
        outcomes = await self.uow.apply(judged)
        assert outcomes == [EXPECTED[verdict]] * len(tasks)
        pairs = []
        for item in judged:
            result = item.delivery.message
            assert result is not None
            pairs.append((by_id[result.task_id], result))
        return pairs

    async def session_counters(self, tenant: str, session: str) -> dict[str, str]:
        return await self.backend.probe.session(tenant, session)
