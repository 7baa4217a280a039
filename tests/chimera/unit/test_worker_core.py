"""The Worker's rules as plain functions: prepare a task, settle what its attempt came to."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chimera.config.swarm import Swarm
from chimera.models.llm import ConfidenceSource, Role
from chimera.models.result import ErrorKind, ResultStatus, Usage
from chimera.services.worker.core import (
    MAX_ERROR_CHARS,
    Answer,
    Failure,
    GiveUp,
    Prepared,
    Publish,
    Retry,
    attempt_budget,
    prepare,
    settle,
)
from chimera.testing import make_task
from tests.chimera.helpers import ECHO_SKILL, write_swarm

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(milliseconds=250)


@pytest.fixture
def swarm(tmp_path: Path) -> Swarm:
    skill = {
        **ECHO_SKILL,
        "prompt": "Echo {{ text }} (try {{ attempt }}){% if feedback %}: {{ feedback }}{% endif %}",
    }
    return write_swarm(
        tmp_path,
        skills=[skill],
        tenants={"acme": {"skills": ["echo"]}, "globex": {"skills": ["echo"]}},
    )


def task(**fields: object):  # type: ignore[no-untyped-def]
    base = {"tenant": "acme", "skill": "echo", "input": {"text": "hi"}}
    base.update(fields)
    return make_task(**base)


def test_prepare_renders_the_prompt_as_the_first_user_message(swarm: Swarm) -> None:
    prepared = prepare(task(attempt=2, feedback="shorter"), "acme", swarm)
    assert isinstance(prepared, Prepared)
    [message] = prepared.request.messages
    assert message.role is Role.USER
    assert message.content == "Echo hi (try 2): shorter"
    assert prepared.request.output_schema == swarm.skill("echo").config.output_schema
    assert prepared.request.attempt == 2


def test_prepare_trusts_the_stream_not_the_body(swarm: Swarm) -> None:
    failure = prepare(task(tenant="globex"), "acme", swarm)
    assert isinstance(failure, Failure)
    assert failure.kind is ErrorKind.INVALID_INPUT
    assert "names tenant 'globex' but came from tenant 'acme'" in failure.message


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"skill": "nope"}, "may not run skill 'nope'"),
        ({"input": {"text": 3}}, "input does not match schema"),
    ],
)
def test_prepare_refuses_what_cannot_run(
    swarm: Swarm, fields: dict[str, object], expected: str
) -> None:
    failure = prepare(task(**fields), "acme", swarm)
    assert isinstance(failure, Failure)
    assert failure.kind is ErrorKind.INVALID_INPUT
    assert expected in failure.message


def settle_with(swarm: Swarm, outcome: Answer | Failure, **task_fields: object):  # type: ignore[no-untyped-def]
    subject = task(**task_fields)
    return settle(
        subject,
        swarm.skill("echo"),
        outcome,
        worker="w1",
        started_at=T0,
        finished_at=T1,
        now=1000.0,
        rng=random.Random(7),
    )


def test_an_answer_becomes_a_succeeded_result(swarm: Swarm) -> None:
    answer = Answer({"echo": "hi"}, 0.91, ConfidenceSource.REPORTED, Usage(prompt_tokens=3))
    settlement = settle_with(swarm, answer)
    assert isinstance(settlement, Publish)
    result = settlement.result
    assert (result.status, result.output, result.confidence) == (
        ResultStatus.SUCCEEDED,
        {"echo": "hi"},
        0.91,
    )
    assert result.usage.prompt_tokens == 3
    assert result.worker == "w1"
    assert result.latency_ms == 250.0


def test_a_retryable_failure_is_retried_with_backoff_then_given_up(swarm: Swarm) -> None:
    failure = Failure(ErrorKind.TIMEOUT, "slow")
    first = settle_with(swarm, failure, attempt=1)
    assert isinstance(first, Retry)
    assert first.task.attempt == 2
    # ECHO_SKILL backs off 0.01 s at first, capped at 0.05 s, with 20 % jitter.
    assert 1000.0 < first.due <= 1000.0 + 0.05
    last = settle_with(swarm, failure, attempt=3)
    assert isinstance(last, GiveUp)
    assert last.letter.reason == "gave up after 3 attempts"
    assert last.letter.last_error == "timeout: slow"


def test_the_backends_retry_hint_is_honoured_up_to_the_cap(swarm: Swarm) -> None:
    settlement = settle_with(swarm, Failure(ErrorKind.RATE_LIMIT, "429", retry_after_s=30))
    assert isinstance(settlement, Retry)
    assert settlement.due == pytest.approx(1000.05)


def test_a_non_retryable_failure_is_a_failed_result_for_the_judge(swarm: Swarm) -> None:
    settlement = settle_with(swarm, Failure(ErrorKind.INVALID_INPUT, "x" * 10_000))
    assert isinstance(settlement, Publish)
    result = settlement.result
    assert result.status is ResultStatus.FAILED
    assert result.error_kind is ErrorKind.INVALID_INPUT
    assert result.error is not None
    assert len(result.error) == MAX_ERROR_CHARS
    assert result.confidence == 0.0


def test_the_body_cannot_raise_the_skills_attempt_limit(swarm: Swarm) -> None:
    greedy = task(max_attempts=1_000_000, attempt=3)
    assert attempt_budget(greedy, swarm.skill("echo")) == 3
    settlement = settle_with(
        swarm, Failure(ErrorKind.BACKEND, "down"), max_attempts=1_000_000, attempt=3
    )
    assert isinstance(settlement, GiveUp)


def test_a_lower_budget_in_the_body_still_counts(swarm: Swarm) -> None:
    settlement = settle_with(swarm, Failure(ErrorKind.BACKEND, "down"), max_attempts=1, attempt=1)
    assert isinstance(settlement, GiveUp)
