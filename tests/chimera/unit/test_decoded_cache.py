"""The decoded-model cache: a Judge reuses what its own process's Worker validated."""

from __future__ import annotations

from pathlib import Path

import redis.asyncio as aioredis

from chimera.bootstrap import build_runtime
from chimera.lib.decoded import DecodedCache
from chimera.lib.stream_entry import decode_entry
from chimera.models.result import Result
from chimera.models.task import Task
from chimera.plugins.manager import get_plugin_manager
from chimera.services.orchestrator import Orchestrator
from chimera.services.planner import Submission
from tests.chimera.helpers import ECHO_SKILL, FakeBackend, write_swarm


def _task(text: str = "a") -> Task:
    return Task(tenant="acme", session="s1", skill="echo", input={"text": text})


def test_a_disabled_cache_keeps_nothing() -> None:
    cache = DecodedCache()
    task = _task()
    cache.remember(task.model_dump_json(), task)
    assert len(cache) == 0
    assert cache.take(task.model_dump_json(), Task) is None


def test_a_text_is_taken_once_as_the_kind_asked_for() -> None:
    cache = DecodedCache()
    cache.enable()
    task = _task()
    text = task.model_dump_json()
    cache.remember(text, task)
    assert cache.take(text, Result) is None  # not a Result: validated as one instead
    cache.remember(text, task)
    assert cache.take(text.encode(), Task) is task  # bytes as read from Redis
    assert cache.take(text, Task) is None  # taken: a redelivered copy is validated again
    assert cache.reused == 1


def test_a_full_cache_keeps_what_it_has_until_it_is_old() -> None:
    now = [0.0]
    cache = DecodedCache(capacity=2, max_age_s=10.0, clock=lambda: now[0])
    cache.enable()
    tasks = [_task(str(i)) for i in range(4)]
    for task in tasks[:3]:
        cache.remember(task.model_dump_json(), task)
    # Full: the newest is not kept, the oldest (a Judge behind reads it next) stays.
    assert cache.take(tasks[2].model_dump_json(), Task) is None
    assert cache.take(tasks[0].model_dump_json(), Task) is tasks[0]
    cache.remember(tasks[2].model_dump_json(), tasks[2])
    now[0] = 11.0  # what nobody asked for in time is dropped to make room
    cache.remember(tasks[3].model_dump_json(), tasks[3])
    assert len(cache) == 1
    assert cache.take(tasks[1].model_dump_json(), Task) is None
    assert cache.take(tasks[3].model_dump_json(), Task) is tasks[3]


def test_an_entry_kept_on_decode_is_not_validated_again() -> None:
    cache = DecodedCache()
    cache.enable()
    body = {b"body": _task().model_dump_json().encode()}
    first = decode_entry(Task, "acme", "1-0", body, 1, cache, keep=True)
    again = decode_entry(Task, "acme", "1-0", body, 1, cache)
    assert first.message is not None
    assert again.message is first.message
    # Not kept by the second decode: a third one validates afresh.
    third = decode_entry(Task, "acme", "1-0", body, 1, cache)
    assert third.message == first.message
    assert third.message is not first.message


async def test_the_judge_reuses_every_task_and_result_its_worker_validated(
    tmp_path: Path, fake_redis: aioredis.Redis
) -> None:
    swarm = write_swarm(tmp_path, skills=[ECHO_SKILL], sinks=["log"])
    pm = get_plugin_manager(load_entry_points=False)
    runtime = await build_runtime(swarm, None, "t", pm, client=fake_redis)
    runtime.backends["fake"] = FakeBackend()
    orchestrator = Orchestrator(
        runtime.planner(),
        make_worker=lambda on_dead: runtime.worker(on_dead_letter=on_dead),
        make_judge=lambda on_outcome: runtime.judge(on_outcome=on_outcome),
    )
    report = await orchestrator.run(
        [Submission("acme", "echo", {"text": str(i), "confidence": 0.9}) for i in range(20)]
    )
    assert report.totals()["tasks"] == 20
    cache = runtime.queue.decoded
    assert cache is runtime.uow.decoded
    # Each task's ledger row and each Result were validated once, by the Worker.
    assert cache.reused == 40
    assert len(cache) == 0
    await runtime.close()
