"""Contract: the W3C trace context travels on every stream entry about a task.

The first enqueue, the Result, a retry (through the delayed set), a hand-back, a dead letter
and its replay, and a Judge's retry each carry the ``traceparent`` they were given, so the
next reader continues the task's trace. Fakes and Redis alike.
"""

from __future__ import annotations

import dataclasses
import time

from chimera.models.decision import Decision, Verdict
from chimera.models.task import Task
from chimera.ports.judge import CommitOutcome, Judged
from chimera.ports.queue import DeadLetter, Delivery
from chimera.testing import make_result
from tests.chimera.contracts.backends import Backend

SUBMIT = "00-" + "a" * 32 + "-" + "1" * 16 + "-01"
WORKER = "00-" + "a" * 32 + "-" + "2" * 16 + "-01"
JUDGE = "00-" + "a" * 32 + "-" + "3" * 16 + "-01"


def task() -> Task:
    return Task(tenant="acme", session="s1", skill="summarise", input={"i": 1})


async def read_one(backend: Backend) -> Delivery[Task]:
    [delivery] = await backend.queue.read_tasks("c1", ["acme"], count=1, block_ms=10)
    return delivery


async def test_the_first_entry_carries_the_submitters_context(backend: Backend) -> None:
    traced, untraced = task(), task()
    await backend.queue.enqueue([traced, untraced], [SUBMIT, None])
    got = await backend.queue.read_tasks("c1", ["acme"], count=2, block_ms=10)
    by_id = {d.message.id: d.traceparent for d in got if d.message}
    assert by_id == {traced.id: SUBMIT, untraced.id: None}


async def test_a_result_carries_the_workers_context(backend: Backend) -> None:
    one = task()
    await backend.queue.enqueue([one], [SUBMIT])
    delivery = dataclasses.replace(await read_one(backend), traceparent=WORKER)
    await backend.queue.complete([(delivery, make_result(one, output={"ok": True}))])
    [result] = await backend.queue.read_results("j1", ["acme"], count=1, block_ms=10)
    assert result.traceparent == WORKER


async def test_a_retry_carries_its_context_through_the_delayed_set(backend: Backend) -> None:
    one = task()
    await backend.queue.enqueue([one], [SUBMIT])
    delivery = dataclasses.replace(await read_one(backend), traceparent=WORKER)
    due = time.time()
    assert await backend.queue.retry_later([(delivery, one.next_attempt(), due)]) == [True]
    assert await backend.queue.promote_due(["acme"], now=due + 1) == 1
    again = await read_one(backend)
    assert again.message is not None
    assert (again.message.attempt, again.traceparent) == (2, WORKER)


async def test_an_untraced_retry_has_no_context(backend: Backend) -> None:
    one = task()
    await backend.queue.enqueue([one])
    delivery = await read_one(backend)
    due = time.time()
    await backend.queue.retry_later([(delivery, one.next_attempt(), due)])
    await backend.queue.promote_due(["acme"], now=due + 1)
    assert (await read_one(backend)).traceparent is None


async def test_a_hand_back_keeps_the_entrys_context(backend: Backend) -> None:
    await backend.queue.enqueue([task()], [SUBMIT])
    await backend.queue.release([await read_one(backend)])
    assert (await read_one(backend)).traceparent == SUBMIT


async def test_a_replayed_dead_letter_continues_from_the_attempt_that_gave_up(
    backend: Backend,
) -> None:
    one = task()
    await backend.queue.enqueue([one], [SUBMIT])
    delivery = dataclasses.replace(await read_one(backend), traceparent=WORKER)
    assert await backend.queue.dead_letter([(delivery, DeadLetter("gave up", 3, "503"))]) == [True]
    [entry] = await backend.dead_letters.list("acme")
    assert await backend.dead_letters.replay("acme", entry, one)
    assert (await read_one(backend)).traceparent == WORKER


async def test_a_judges_retry_continues_from_the_judge(backend: Backend) -> None:
    one = task()
    await backend.queue.enqueue([one], [SUBMIT])
    delivery = await read_one(backend)
    result = make_result(one, output={"ok": True}, confidence=0.2)
    await backend.queue.complete([(delivery, result)])
    [judged] = await backend.queue.read_results("j1", ["acme"], count=1, block_ms=10)
    [looked_up] = await backend.uow.lookup([judged])
    assert looked_up is not None
    decision = Decision.on(result, Verdict.DENY, "weak", "threshold", retry=True)
    due = time.time()
    item = Judged(
        dataclasses.replace(judged, traceparent=JUDGE),
        decision,
        looked_up,
        retry_task=looked_up.next_attempt("weak"),
        retry_at=due,
    )
    assert await backend.uow.apply([item]) == [CommitOutcome.RETRIED]
    assert await backend.queue.promote_due(["acme"], now=due + 1) == 1
    again = await read_one(backend)
    assert again.message is not None
    assert (again.message.attempt, again.traceparent) == (2, JUDGE)
