"""Pipeline runs executed end to end: real Redis, a Worker and a Judge in this process.

Each test starts runs through ``client.runs`` and checks what a user relies on: the graph's
order, what each step was given, every step enqueued and committed exactly once, and how a
run ends (a condition, a fan-out and its join, a human's review, a denied step).
"""

from __future__ import annotations

import asyncio
from typing import Any

from chimera import Client
from chimera.models.audit import AuditEventType
from chimera.models.pipeline import PipelineRun, RunState, StepState
from chimera.ports.stores import TaskState
from chimera.services.pipeline import step_task_id
from tests.chimera.run_support import (
    Probe,
    client,
    count_events,
    probe,
    serving,
    start_until_review,
)

__all__ = ["client", "probe"]  # fixtures, used by name

S = StepState


def states(run: PipelineRun) -> dict[str, StepState]:
    return {name: step.state for name, step in run.steps.items()}


async def run_served(client: Client, pipeline: str, input: dict[str, Any]) -> PipelineRun:
    """Start a run with a Worker and a Judge serving, and wait for its end."""
    async with client.serve(concurrency=100):
        run = await client.runs.start("acme", pipeline, input)
        return await client.runs.wait(run.id, timeout_s=20)


def task_ids(run: PipelineRun) -> dict[str, list[str]]:
    return {name: [task.task_id for task in step.tasks] for name, step in run.steps.items()}


async def test_a_diamond_runs_every_step_once_and_joins_both_branches(
    client: Client, probe: Probe
) -> None:
    done = await run_served(client, "diamond", {"text": "hi"})

    assert done.state is RunState.SUCCEEDED, done.reason
    assert states(done) == {"a": S.COMMITTED, "b": S.COMMITTED, "c": S.COMMITTED, "d": S.COMMITTED}
    ids = {name: step_task_id(done.id, name) for name in "abcd"}
    assert task_ids(done) == {name: [task_id] for name, task_id in ids.items()}
    # Exactly once: four tasks entered the session, each committed by one decision.
    assert await probe.session_tasks(done) == set(ids.values())
    assert await probe.submitted(done) == 4
    committed = count_events(await probe.trail(client), AuditEventType.COMMITTED)
    assert {task_id: committed[task_id] for task_id in ids.values()} == dict.fromkeys(
        ids.values(), 1
    )

    results = {name: await probe.committed(task_id) for name, task_id in ids.items()}
    text = {name: result["output"]["text"] for name, result in results.items()}
    assert results["b"]["prompt"] == f"Do b {text['a']}"
    assert results["c"]["prompt"] == f"Do c {text['a']}"
    assert text["b"] != text["c"]
    # d was given both branches' committed outputs, in the order its input names them.
    assert results["d"]["prompt"] == f"Gather {text['b']} | {text['c']}"
    assert done.output == {"text": text["d"]}
    # Graph order: a step starts only after every step it needs has finished.
    steps = done.steps
    for later, earlier in [("b", "a"), ("c", "a"), ("d", "b"), ("d", "c")]:
        started, needed_done = steps[later].started_at, steps[earlier].finished_at
        assert started is not None
        assert needed_done is not None
        assert started >= needed_done


async def test_a_false_when_skips_the_step_and_its_dependants_and_the_run_succeeds(
    client: Client, probe: Probe
) -> None:
    done = await run_served(client, "conditional", {"text": "x", "flag": False})

    assert done.state is RunState.SUCCEEDED, done.reason
    # b's own `when` is false; c, which needs b and has no `when`, is skipped with it;
    # d decides by its own `when`, which asks for exactly that.
    assert states(done) == {"a": S.COMMITTED, "b": S.SKIPPED, "c": S.SKIPPED, "d": S.COMMITTED}
    assert "when was false" in (done.steps["b"].reason or "")
    assert "'b'" in (done.steps["c"].reason or "")
    assert done.steps["b"].tasks == []
    assert done.steps["c"].tasks == []
    assert await probe.session_tasks(done) == {
        step_task_id(done.id, "a"),
        step_task_id(done.id, "d"),
    }
    d = await probe.committed(step_task_id(done.id, "d"))
    assert d["prompt"] == "Do c was skipped"
    assert done.output == d["output"]


async def test_a_true_when_runs_the_branch_and_skips_the_step_waiting_for_a_skip(
    client: Client, probe: Probe
) -> None:
    done = await run_served(client, "conditional", {"text": "x", "flag": True})

    assert done.state is RunState.SUCCEEDED, done.reason
    assert states(done) == {"a": S.COMMITTED, "b": S.COMMITTED, "c": S.COMMITTED, "d": S.SKIPPED}
    # The output step was skipped: the run succeeded without an output.
    assert done.output is None
    assert await probe.submitted(done) == 3


async def test_a_fan_out_of_fifty_joins_every_output_in_item_order(
    client: Client, probe: Probe
) -> None:
    words: list[Any] = [f"word-{i:02d}" for i in range(50)]
    done = await run_served(client, "fan", {"text": "x", "words": words})

    assert done.state is RunState.SUCCEEDED, done.reason
    item_ids = [step_task_id(done.id, "each", index) for index in range(50)]
    assert task_ids(done)["each"] == item_ids
    assert len(set(item_ids)) == 50
    items = [await probe.committed(task_id) for task_id in item_ids]
    # Item i ran on word i, and its output is item i of the step's output list.
    assert [item["prompt"] for item in items] == [f"Do {word}" for word in words]
    outputs = [item["output"] for item in items]
    assert done.steps["each"].output == outputs
    assert len({output["text"] for output in outputs}) == 50
    join = await probe.committed(step_task_id(done.id, "join"))
    assert join["prompt"] == "Gather " + " | ".join(output["text"] for output in outputs)
    assert await probe.session_tasks(done) == {*item_ids, step_task_id(done.id, "join")}
    assert await probe.submitted(done) == 51


async def test_a_parked_step_pauses_its_dependants_until_approved(
    client: Client, probe: Probe
) -> None:
    async with serving(client):
        run, draft_id = await start_until_review(client, "reviewed", "draft", "draft me")
        paused = await client.runs.wait(run.id, timeout_s=0.5)
        assert paused.state is RunState.RUNNING
        assert states(paused) == {"draft": S.REVIEW, "send": S.PENDING}
        assert await probe.session_tasks(paused) == {draft_id}

        decision = await client.review.approve(draft_id, note="fine")
        assert decision.outcome == "committed"
        done = await client.runs.wait(run.id, timeout_s=10)

    assert done.state is RunState.SUCCEEDED, done.reason
    assert states(done) == {"draft": S.COMMITTED, "send": S.COMMITTED}
    draft = await probe.committed(draft_id)
    send = await probe.committed(step_task_id(run.id, "send"))
    assert send["prompt"] == f"Do {draft['output']['text']}"
    assert await probe.submitted(done) == 2


async def test_a_rejected_step_fails_its_run_naming_the_step(client: Client, probe: Probe) -> None:
    async with serving(client):
        run, draft_id = await start_until_review(client, "reviewed", "draft", "draft me")
        decision = await client.review.reject(draft_id, "off-brand tone")
        assert decision.outcome == "denied"
        done = await client.runs.wait(run.id, timeout_s=10)

    assert done.state is RunState.FAILED
    assert done.failed_step == "draft"
    assert "draft" in (done.reason or "")
    assert "denied" in (done.reason or "")
    assert states(done) == {"draft": S.DENIED, "send": S.CANCELLED}
    assert await probe.session_tasks(done) == {draft_id}


async def test_a_denied_step_fails_the_run_and_nothing_after_it_is_enqueued(
    client: Client, probe: Probe
) -> None:
    async with serving(client, sweep_s=0.05):
        run = await client.runs.start("acme", "failing", {"text": "x"})
        done = await client.runs.wait(run.id, timeout_s=10)
        # Several sweeps of the Judge later, nothing has moved.
        await asyncio.sleep(0.3)
        again = await client.runs.get(run.id)

    assert done.state is RunState.FAILED
    assert done.failed_step == "bad"
    assert done.reason is not None
    assert done.reason.startswith("step 'bad' denied: ")
    assert states(done) == {
        "a": S.COMMITTED,
        "bad": S.DENIED,
        "after": S.CANCELLED,
        "last": S.CANCELLED,
    }
    assert "the run failed at step 'bad'" in (done.steps["after"].reason or "")
    assert done.finished_at is not None
    assert again == done
    ids = {step_task_id(run.id, "a"), step_task_id(run.id, "bad")}
    assert await probe.session_tasks(done) == ids
    assert await probe.submitted(done) == 2
    assert run.id not in await probe.active()


async def test_a_dead_lettered_step_fails_the_run_with_the_reason(
    client: Client, probe: Probe
) -> None:
    async with serving(client):
        run = await client.runs.start("acme", "crashing", {"text": "x"})
        done = await client.runs.wait(run.id, timeout_s=10)

    assert done.state is RunState.FAILED
    assert done.failed_step == "boom"
    assert done.reason is not None
    assert done.reason.startswith("step 'boom' dead-lettered: ")
    assert states(done) == {"a": S.COMMITTED, "boom": S.DEAD_LETTERED, "after": S.CANCELLED}
    boom = step_task_id(run.id, "boom")
    assert (await client.result(boom, tenant="acme")).state is TaskState.DEAD_LETTERED
    assert await probe.session_tasks(done) == {step_task_id(run.id, "a"), boom}


async def test_a_failed_run_still_records_its_independent_branch_when_reviewed(
    client: Client, probe: Probe
) -> None:
    async with serving(client):
        run, side = await start_until_review(client, "branches", "side", "x")
        failed = await client.runs.wait(run.id, timeout_s=10)
        assert failed.state is RunState.FAILED
        assert states(failed) == {"bad": S.DENIED, "side": S.REVIEW, "join": S.CANCELLED}
        # The branch is left to finish; a human approves it after the run failed.
        assert (await client.review.approve(side)).outcome == "committed"
        for _ in range(100):
            done = await client.runs.get(run.id)
            if done.steps["side"].state is not S.REVIEW:
                break
            await asyncio.sleep(0.02)

    assert states(done) == {"bad": S.DENIED, "side": S.COMMITTED, "join": S.CANCELLED}
    assert (done.state, done.failed_step, done.finished_at) == (
        RunState.FAILED,
        "bad",
        failed.finished_at,
    )
    assert run.id not in await probe.active()
    finished = count_events(await probe.trail(client), AuditEventType.RUN_FINISHED)
    assert finished[run.id] == 1
