"""The pure pipeline engine: which steps go when, what they get, and how a run ends."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chimera.config.compiled_pipeline import CompiledPipeline
from chimera.models.pipeline import PipelineRun, RunState, StepState
from chimera.models.types import new_id
from chimera.services.pipeline import (
    RunStateError,
    StepInputError,
    advance,
    cancel_run,
    halt_run,
    new_run,
    ready_steps,
    resume_run,
    run_outcome,
    settle_task,
    step_inputs,
    step_task_id,
)
from tests.chimera.pipeline_support import Driver, load_pipeline, pipeline_yaml

CHAIN = pipeline_yaml(
    """\
    a: {skill: work, input: {text: "{{ input.text }}"}}
    b: {skill: work, needs: [a], input: {text: "after {{ steps.a.output.text }}"}}
    c: {skill: work, needs: [b], input: {text: "{{ steps.b.output.text }}!"}}
    """,
    "c",
)

DIAMOND = pipeline_yaml(
    """\
    a: {skill: work, input: {text: "{{ input.text }}"}}
    b: {skill: work, needs: [a], input: {text: "b {{ steps.a.output.text }}"}}
    c: {skill: work, needs: [a], input: {text: "c {{ steps.a.output.text }}"}}
    d:
      skill: gather
      needs: [b, c]
      input: {parts: ["{{ steps.b.output.text }}", "{{ steps.c.output.text }}"]}
    """,
    "d",
)

CONDITIONS = pipeline_yaml(
    """\
    a: {skill: work, input: {text: "{{ input.text }}"}}
    b:
      skill: work
      needs: [a]
      when: "steps.a.output.category == 'b'"
      input: {text: "only for b"}
    c: {skill: work, needs: [b], input: {text: "{{ steps.b.output.text }}"}}
    d:
      skill: gather
      needs: [c]
      when: "steps.c.status == 'skipped'"
      input: {parts: ["{{ steps.c.status }}", "{{ steps.c.output }}", "{{ steps.b.status }}"]}
    """,
    "d",
)

FAN_OUT = pipeline_yaml(
    """\
    split: {skill: work, input: {text: "{{ input.text }}"}}
    each:
      skill: work
      needs: [split]
      for_each: steps.split.output.parts
      input: {text: "{{ item }}", count: "{{ index }}"}
    join:
      skill: gather
      needs: [each]
      input: {parts: "{{ steps.each.output | map(attribute='text') | list }}"}
    """,
    "join",
)


@pytest.fixture
def chain(tmp_path: Path) -> CompiledPipeline:
    return load_pipeline(tmp_path, CHAIN)


@pytest.fixture
def diamond(tmp_path: Path) -> CompiledPipeline:
    return load_pipeline(tmp_path, DIAMOND)


@pytest.fixture
def conditions(tmp_path: Path) -> CompiledPipeline:
    return load_pipeline(tmp_path, CONDITIONS)


@pytest.fixture
def fan_out(tmp_path: Path) -> CompiledPipeline:
    return load_pipeline(tmp_path, FAN_OUT)


def states(run: PipelineRun) -> dict[str, StepState]:
    return {name: step.state for name, step in run.steps.items()}


# --- graph order -----------------------------------------------------------------------


def test_a_chain_runs_one_step_after_the_other(chain: CompiledPipeline) -> None:
    driver = Driver.start(chain, {"text": "hi"})
    assert driver.steps_enqueued() == ["a"]
    assert driver.task("a").input == {"text": "hi"}
    assert states(driver.run) == {
        "a": StepState.RUNNING,
        "b": StepState.PENDING,
        "c": StepState.PENDING,
    }

    driver.settle(driver.task("a"), output={"text": "A"})
    assert driver.steps_enqueued() == ["a", "b"]
    assert driver.task("b").input == {"text": "after A"}

    driver.settle(driver.task("b"), output={"text": "B"})
    assert driver.task("c").input == {"text": "B!"}
    assert driver.run.state is RunState.RUNNING

    driver.settle(driver.task("c"), output={"text": "C"})
    assert driver.run.state is RunState.SUCCEEDED
    assert driver.run.output == {"text": "C"}
    assert driver.run.finished_at is not None
    assert [t.step for t in driver.enqueued] == ["a", "b", "c"]


def test_a_diamond_joins_only_when_both_branches_committed(diamond: CompiledPipeline) -> None:
    driver = Driver.start(diamond, {"text": "x"})
    driver.settle(driver.task("a"), output={"text": "A"})
    assert driver.steps_enqueued() == ["a", "b", "c"]

    driver.settle(driver.task("c"), output={"text": "C"})
    assert "d" not in driver.steps_enqueued()
    driver.settle(driver.task("b"), output={"text": "B"})
    assert driver.task("d").input == {"parts": ["B", "C"]}

    driver.settle(driver.task("d"), output={"text": "D"})
    assert driver.run.state is RunState.SUCCEEDED
    assert [t.step for t in driver.enqueued] == ["a", "b", "c", "d"]


def test_started_steps_record_their_tasks_and_times(chain: CompiledPipeline) -> None:
    driver = Driver.start(chain, {"text": "hi"})
    step = driver.run.steps["a"]
    (task,) = step.tasks
    assert task.task_id == driver.task("a").task_id
    assert step.started_at is not None
    assert task.enqueued_at == step.started_at
    driver.settle(driver.task("a"), output={"text": "A"})
    step = driver.run.steps["a"]
    assert step.output == {"text": "A"}
    assert step.finished_at is not None
    assert step.finished_at > step.started_at


# --- conditions ------------------------------------------------------------------------


def test_when_false_skips_the_step_and_its_dependants(conditions: CompiledPipeline) -> None:
    driver = Driver.start(conditions, {"text": "x"})
    driver.settle(driver.task("a"), output={"text": "A", "category": "a"})

    assert driver.run.steps["b"].state is StepState.SKIPPED
    assert "when was false" in (driver.run.steps["b"].reason or "")
    assert driver.run.steps["c"].state is StepState.SKIPPED
    assert driver.run.steps["c"].reason == "it needs 'b', which was skipped"
    # d has its own `when`, which decides: it sees c skipped, with no output.
    assert driver.task("d").input == {"parts": ["skipped", None, "skipped"]}
    assert driver.steps_enqueued() == ["a", "d"]

    driver.settle(driver.task("d"), output={"text": "D"})
    assert driver.run.state is RunState.SUCCEEDED


def test_when_true_runs_the_step(conditions: CompiledPipeline) -> None:
    driver = Driver.start(conditions, {"text": "x"})
    driver.settle(driver.task("a"), output={"text": "A", "category": "b"})
    driver.settle(driver.task("b"), output={"text": "B"})
    assert driver.task("c").input == {"text": "B"}
    driver.settle(driver.task("c"), output={"text": "C"})
    # d's own `when` is false now that c ran: skipped, and it was the output step.
    assert driver.run.steps["d"].state is StepState.SKIPPED
    assert driver.run.state is RunState.SUCCEEDED
    assert driver.run.output is None


def test_a_when_that_reads_a_skipped_step_s_output_fails_the_run(tmp_path: Path) -> None:
    pipeline = load_pipeline(
        tmp_path,
        pipeline_yaml(
            """\
            a: {skill: work, when: "input.flag", input: {text: x}}
            b: {skill: work, needs: [a], when: "steps.a.output.n > 1", input: {text: x}}
            c:
              skill: work
              needs: [a]
              when: "steps.a.status == 'committed' and steps.a.output.n > 1"
              input: {text: x}
            """,
            "b",
        ),
    )
    driver = Driver.start(pipeline, {"text": "x", "flag": False})
    assert driver.run.steps["b"].state is StepState.FAILED
    assert (driver.run.steps["b"].reason or "").startswith("when: ")
    assert driver.run.state is RunState.FAILED
    # c tests the status first: it is skipped cleanly (a skip enqueues nothing, so it stands).
    assert driver.run.steps["c"].state is StepState.SKIPPED


def test_ready_steps_reports_a_whole_skip_chain_at_once(conditions: CompiledPipeline) -> None:
    driver = Driver.start(conditions, {"text": "x"})
    run = settle_task(
        conditions,
        driver.run,
        driver.task("a").task_id,
        StepState.COMMITTED,
        at=driver.now(),
        output={"text": "A", "category": "a"},
    )
    readiness = ready_steps(conditions, run)
    assert list(readiness.skipped) == ["b", "c"]
    assert [r.step for r in readiness.ready] == ["d"]
    assert readiness.failed == {}
    assert readiness.empty == []
    assert states(run)["b"] is StepState.PENDING  # ready_steps changes nothing itself


# --- fan-out ---------------------------------------------------------------------------


def test_a_fan_out_of_many_items_and_its_join(fan_out: CompiledPipeline) -> None:
    driver = Driver.start(fan_out, {"text": "x"})
    parts = [f"q{i}" for i in range(50)]
    driver.settle(driver.task("split"), output={"text": "S", "parts": parts})

    items = driver.tasks("each")
    assert [t.input for t in items] == [{"text": p, "count": i} for i, p in enumerate(parts)]
    assert len({t.task_id for t in items}) == 50
    # Items finish in any order; the join waits for the last and sees item order.
    for task in reversed(items):
        assert "join" not in driver.steps_enqueued()
        driver.settle(task, output={"text": task.input["text"].upper()})
    assert driver.task("join").input == {"parts": [p.upper() for p in parts]}
    assert driver.run.steps["each"].output == [{"text": p.upper()} for p in parts]

    driver.settle(driver.task("join"), output={"text": "done"})
    assert driver.run.state is RunState.SUCCEEDED
    assert len(driver.enqueued) == 52


def test_an_empty_fan_out_is_done_at_once_and_its_join_goes(fan_out: CompiledPipeline) -> None:
    driver = Driver.start(fan_out, {"text": "x"})
    driver.settle(driver.task("split"), output={"text": "S", "parts": []})
    each = driver.run.steps["each"]
    assert (each.state, each.output, each.tasks) == (StepState.COMMITTED, [], [])
    assert driver.task("join").input == {"parts": []}


def test_ready_steps_counts_the_items_of_a_fan_out(fan_out: CompiledPipeline) -> None:
    driver = Driver.start(fan_out, {"text": "x"})
    run = settle_task(
        fan_out,
        driver.run,
        driver.task("split").task_id,
        StepState.COMMITTED,
        at=driver.now(),
        output={"text": "S", "parts": ["a", "b", "c"]},
    )
    (ready,) = ready_steps(fan_out, run).ready
    assert (ready.step, ready.skill, ready.fans_out) == ("each", "work", True)
    assert len(ready.task_ids) == len(ready.inputs) == 3


def test_a_fan_out_item_waiting_for_review_holds_the_join(fan_out: CompiledPipeline) -> None:
    driver = Driver.start(fan_out, {"text": "x"})
    driver.settle(driver.task("split"), output={"text": "S", "parts": ["a", "b"]})
    first, second = driver.tasks("each")
    driver.settle(first, StepState.REVIEW)
    driver.settle(second)
    assert driver.run.steps["each"].state is StepState.REVIEW
    assert "join" not in driver.steps_enqueued()
    driver.settle(first, output={"text": "approved"})
    assert driver.task("join").input == {"parts": ["approved", "each#1"]}


# --- review ----------------------------------------------------------------------------


def test_a_step_in_review_pauses_its_dependants(diamond: CompiledPipeline) -> None:
    driver = Driver.start(diamond, {"text": "x"})
    driver.settle(driver.task("a"), output={"text": "A"})
    driver.settle(driver.task("b"), StepState.REVIEW, reason="confidence 0.6")
    driver.settle(driver.task("c"), output={"text": "C"})
    assert driver.run.steps["b"].state is StepState.REVIEW
    assert "d" not in driver.steps_enqueued()
    assert run_outcome(diamond, driver.run).in_flight == 1
    assert driver.run.state is RunState.RUNNING

    driver.settle(driver.task("b"), output={"text": "B (approved)"})
    assert driver.task("d").input == {"parts": ["B (approved)", "C"]}


def test_a_step_rejected_in_review_fails_the_run(diamond: CompiledPipeline) -> None:
    driver = Driver.start(diamond, {"text": "x"})
    driver.settle(driver.task("a"), output={"text": "A"})
    driver.settle(driver.task("b"), StepState.REVIEW)
    driver.settle(driver.task("b"), StepState.DENIED, reason="rejected by ana")
    assert driver.run.state is RunState.FAILED
    assert driver.run.reason == "step 'b' denied: rejected by ana"


# --- failure ---------------------------------------------------------------------------


def test_a_denied_step_fails_the_run_at_once(diamond: CompiledPipeline) -> None:
    driver = Driver.start(diamond, {"text": "x"})
    driver.settle(driver.task("a"), output={"text": "A"})
    driver.settle(driver.task("b"), StepState.DENIED, reason="confidence 0.2 below 0.5")

    run = driver.run
    assert run.state is RunState.FAILED
    assert run.failed_step == "b"
    assert run.reason == "step 'b' denied: confidence 0.2 below 0.5"
    assert run.steps["d"].state is StepState.CANCELLED
    assert run.steps["d"].reason == "the run failed at step 'b'"
    assert run.finished_at is not None
    # c was already running: it may finish, and nothing new is enqueued after it.
    outcome = run_outcome(diamond, run)
    assert outcome.finished
    assert outcome.in_flight == 1
    driver.settle(driver.task("c"), output={"text": "C"})
    assert driver.run.steps["c"].state is StepState.COMMITTED
    assert driver.run.state is RunState.FAILED
    assert driver.run.failed_step == "b"
    assert driver.steps_enqueued() == ["a", "b", "c"]


def test_a_dead_lettered_item_fails_its_fan_out_and_the_run(fan_out: CompiledPipeline) -> None:
    driver = Driver.start(fan_out, {"text": "x"})
    driver.settle(driver.task("split"), output={"text": "S", "parts": ["a", "b", "c"]})
    first, second, third = driver.tasks("each")
    driver.settle(second, StepState.DEAD_LETTERED, reason="timeout after 3 attempts")
    each = driver.run.steps["each"]
    assert each.state is StepState.DEAD_LETTERED
    assert each.reason == "item 1: timeout after 3 attempts"
    assert driver.run.reason == "step 'each' dead-lettered: item 1: timeout after 3 attempts"
    driver.settle(first)
    driver.settle(third, StepState.DENIED, reason="later")
    assert driver.run.steps["each"].reason == "item 1: timeout after 3 attempts"
    assert "join" not in driver.steps_enqueued()
    assert run_outcome(fan_out, driver.run).in_flight == 0


def test_the_first_failure_names_the_run_s_failure(diamond: CompiledPipeline) -> None:
    driver = Driver.start(diamond, {"text": "x"})
    driver.settle(driver.task("a"), output={"text": "A"})
    driver.settle(driver.task("c"), StepState.DENIED, reason="first")
    driver.settle(driver.task("b"), StepState.DENIED, reason="second")
    assert driver.run.failed_step == "c"


def test_nothing_is_enqueued_after_a_step_whose_input_cannot_be_built(
    tmp_path: Path,
) -> None:
    pipeline = load_pipeline(
        tmp_path,
        pipeline_yaml(
            """\
    a: {skill: work, input: {text: "{{ input.text }}"}}
    b: {skill: work, needs: [a], input: {text: "x", count: "{{ steps.a.output.n }}"}}
    c: {skill: work, needs: [a], input: {text: "fine"}}
    """,
            "b",
        ),
    )
    driver = Driver.start(pipeline, {"text": "x"})
    driver.settle(driver.task("a"), output={"text": "A"})  # no `n`: b cannot render
    run = driver.run
    assert run.state is RunState.FAILED
    assert run.steps["b"].state is StepState.FAILED
    assert run.reason is not None
    assert "input.count" in run.reason
    assert "'n'" in run.reason
    # c was ready in the same pass, but the run had failed: fail fast, nothing enqueued.
    assert run.steps["c"].state is StepState.CANCELLED
    assert driver.steps_enqueued() == ["a"]


def test_an_input_that_breaks_the_skill_schema_fails_the_step(tmp_path: Path) -> None:
    pipeline = load_pipeline(
        tmp_path,
        pipeline_yaml(
            """\
    a: {skill: work, input: {text: "{{ input.text }}"}}
    b:
      skill: work
      needs: [a]
      # Statically a string or an object: only the run can tell which.
      input: {text: "{{ steps.a.output.detail if input.flag else steps.a.output.text }}"}
    """,
            "b",
        ),
    )
    driver = Driver.start(pipeline, {"text": "x", "flag": True})
    driver.settle(driver.task("a"), output={"text": "A", "detail": {"score": 1}})
    reason = driver.run.steps["b"].reason or ""
    assert reason.startswith("input does not match skill 'work': $.text:"), reason
    assert driver.run.state is RunState.FAILED


def test_for_each_over_a_missing_list_fails_the_step(fan_out: CompiledPipeline) -> None:
    driver = Driver.start(fan_out, {"text": "x"})
    driver.settle(driver.task("split"), output={"text": "S"})  # `parts` is optional
    assert driver.run.steps["each"].state is StepState.FAILED
    assert (driver.run.steps["each"].reason or "").startswith("for_each: ")


def test_for_each_that_gives_no_list_at_runtime_fails_the_step(tmp_path: Path) -> None:
    pipeline = load_pipeline(
        tmp_path,
        pipeline_yaml(
            """\
            a: {skill: work, input: {text: "{{ input.text }}"}}
            b:
              skill: work
              needs: [a]
              # A string or a list, as far as the schemas tell: only the run knows which.
              for_each: "steps.a.output.text if input.flag else steps.a.output.parts"
              input: {text: "{{ item }}"}
            """,
            "b",
        ),
    )
    driver = Driver.start(pipeline, {"text": "x", "flag": True})
    driver.settle(driver.task("a"), output={"text": "A"})
    assert driver.run.steps["b"].reason == "for_each must give a list, not str"


def test_step_inputs_renders_one_input_per_item(fan_out: CompiledPipeline) -> None:
    driver = Driver.start(fan_out, {"text": "x"})
    assert step_inputs(fan_out, driver.run, "split") == [{"text": "x"}]
    run = settle_task(
        fan_out,
        driver.run,
        driver.task("split").task_id,
        StepState.COMMITTED,
        at=driver.now(),
        output={"text": "S", "parts": ["p", "q"]},
    )
    assert step_inputs(fan_out, run, "each") == [
        {"text": "p", "count": 0},
        {"text": "q", "count": 1},
    ]
    with pytest.raises(StepInputError, match="step 'each': for_each: "):
        step_inputs(fan_out, driver.run, "each")  # `split` has no output yet


# --- state changes ---------------------------------------------------------------------


def test_settling_a_task_twice_changes_nothing(chain: CompiledPipeline) -> None:
    driver = Driver.start(chain, {"text": "x"})
    task = driver.task("a")
    driver.settle(task, output={"text": "A"})
    before = driver.run
    again = settle_task(
        chain, before, task.task_id, StepState.COMMITTED, at=driver.now(), output={"text": "A"}
    )
    assert again == before
    assert advance(chain, again, at=driver.now()).enqueue == []


@pytest.mark.parametrize(
    ("first", "then"),
    [
        (StepState.COMMITTED, StepState.DENIED),
        (StepState.DENIED, StepState.COMMITTED),
        (StepState.DEAD_LETTERED, StepState.RUNNING),
    ],
)
def test_a_settled_task_does_not_change_state(
    chain: CompiledPipeline, first: StepState, then: StepState
) -> None:
    driver = Driver.start(chain, {"text": "x"})
    task = driver.task("a")
    driver.settle(task, first, output={"text": "A"} if first is StepState.COMMITTED else None)
    with pytest.raises(RunStateError, match="cannot go from"):
        settle_task(chain, driver.run, task.task_id, then, at=driver.now(), output={"text": "B"})


def test_unknown_tasks_and_commits_without_output_are_refused(chain: CompiledPipeline) -> None:
    driver = Driver.start(chain, {"text": "x"})
    with pytest.raises(RunStateError, match="has no task"):
        settle_task(chain, driver.run, new_id(), StepState.COMMITTED, at=driver.now())
    with pytest.raises(RunStateError, match="without an output"):
        settle_task(
            chain, driver.run, driver.task("a").task_id, StepState.COMMITTED, at=driver.now()
        )


def test_a_cancelled_run_starts_nothing_more(diamond: CompiledPipeline) -> None:
    driver = Driver.start(diamond, {"text": "x"})
    driver.settle(driver.task("a"), output={"text": "A"})
    driver.run = cancel_run(diamond, driver.run, at=driver.now(), reason="cancelled by ops")
    assert driver.run.state is RunState.CANCELLED
    assert driver.run.steps["d"].state is StepState.CANCELLED
    driver.settle(driver.task("b"), output={"text": "B"})
    driver.settle(driver.task("c"), StepState.DENIED, reason="late")
    assert driver.run.state is RunState.CANCELLED
    assert driver.run.reason == "cancelled by ops"
    assert driver.steps_enqueued() == ["a", "b", "c"]
    assert cancel_run(diamond, driver.run, at=driver.now()) == driver.run


def test_a_fan_out_whose_items_are_dropped_is_cancelled(fan_out: CompiledPipeline) -> None:
    driver = Driver.start(fan_out, {"text": "x"})
    driver.settle(driver.task("split"), output={"text": "S", "parts": ["a", "b"]})
    driver.run = cancel_run(fan_out, driver.run, at=driver.now())
    first, second = driver.tasks("each")
    driver.settle(first)
    assert driver.run.steps["each"].state is StepState.RUNNING
    driver.settle(second, StepState.CANCELLED, reason="dropped from the queue")
    assert driver.run.steps["each"].state is StepState.CANCELLED
    assert driver.run.steps["join"].state is StepState.CANCELLED
    assert run_outcome(fan_out, driver.run).in_flight == 0


def test_a_halted_run_enqueues_nothing_until_it_resumes(chain: CompiledPipeline) -> None:
    driver = Driver.start(chain, {"text": "x"})
    driver.run = halt_run(driver.run)
    driver.settle(driver.task("a"), output={"text": "A"})
    assert driver.run.state is RunState.HALTED
    assert driver.steps_enqueued() == ["a"]
    assert halt_run(driver.run) == driver.run

    driver.run = resume_run(chain, driver.run, at=driver.now())
    assert driver.run.state is RunState.RUNNING
    result = advance(chain, driver.run, at=driver.now())
    assert [r.step for r in result.enqueue] == ["b"]
    assert resume_run(chain, result.run, at=driver.now()) == result.run


def test_a_run_whose_steps_are_all_skipped_succeeds_without_output(tmp_path: Path) -> None:
    pipeline = load_pipeline(
        tmp_path,
        pipeline_yaml(
            """\
    a: {skill: work, when: "input.flag", input: {text: "{{ input.text }}"}}
    b: {skill: work, needs: [a], input: {text: "{{ steps.a.output.text }}"}}
    """,
            "b",
        ),
    )
    driver = Driver.start(pipeline, {"text": "x", "flag": False})
    assert states(driver.run) == {"a": StepState.SKIPPED, "b": StepState.SKIPPED}
    assert driver.run.state is RunState.SUCCEEDED
    assert driver.run.output is None
    assert driver.enqueued == []


def test_a_run_input_must_match_the_pipeline_schema(chain: CompiledPipeline) -> None:
    with pytest.raises(RunStateError, match=r"\$.text: 3 is not of type 'string'"):
        new_run(
            chain,
            run_id=new_id(),
            tenant="acme",
            session="s",
            input={"text": 3},
            at=datetime(2025, 1, 1, tzinfo=UTC),
        )


def test_runs_survive_a_json_round_trip(fan_out: CompiledPipeline) -> None:
    driver = Driver.start(fan_out, {"text": "x"})
    driver.settle(driver.task("split"), output={"text": "S", "parts": ["a"]})
    stored = driver.run.model_dump_json()
    assert PipelineRun.model_validate_json(stored) == driver.run


def test_step_task_ids_are_ulids_that_sort_with_their_run() -> None:
    run_id = new_id()
    ids = [step_task_id(run_id, step, i) for step in ("a", "b") for i in range(100)]
    assert len(set(ids)) == 200
    assert all(re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{26}", i) for i in ids)
    assert all(i[:10] == run_id[:10] for i in ids)
    assert step_task_id(run_id, "a", 3) == ids[3]
    assert step_task_id(new_id(), "a", 3) != ids[3]
