"""T028 (retry schedule with a fake clock) and T025 (the threshold policy)."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from chimera.models.config import ResolvedJudge, RetryConfig
from chimera.models.decision import Verdict
from chimera.models.result import Result, ResultStatus
from chimera.models.task import Task
from chimera.models.thresholds import Thresholds
from chimera.models.types import utc_now
from chimera.ports.judge import PolicyInput
from chimera.services.judge_policy import ThresholdPolicy
from chimera.services.retry import Backoff


def test_backoff_doubles_until_the_cap_without_jitter() -> None:
    backoff = Backoff(base=0.5, cap=4.0, jitter=0.0)
    assert [backoff.delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_backoff_jitter_stays_within_its_band_and_the_cap() -> None:
    backoff = Backoff(base=1.0, cap=10.0, jitter=0.2)
    rng = random.Random(7)
    for attempt in range(1, 10):
        nominal = min(10.0, 2.0 ** (attempt - 1))
        delay = backoff.delay(attempt, rng)
        assert nominal * 0.8 <= delay <= min(10.0, nominal * 1.2)


def test_backoff_is_reproducible_with_a_seeded_rng() -> None:
    backoff = Backoff.from_config(RetryConfig(backoff_base_s=0.1, backoff_max_s=5, jitter=0.5))
    first = [backoff.delay(n, random.Random(1)) for n in range(1, 5)]
    second = [backoff.delay(n, random.Random(1)) for n in range(1, 5)]
    assert first == second


def test_retry_after_hint_wins_when_longer_but_never_past_the_cap() -> None:
    backoff = Backoff(base=0.1, cap=3.0, jitter=0.0)
    assert backoff.delay(1, hint=2.0) == 2.0
    assert backoff.delay(1, hint=30.0) == 3.0
    assert backoff.delay(1, hint=0.01) == 0.1


def test_fake_clock_schedule_of_three_attempts() -> None:
    """Due times a Worker would compute with a frozen clock at t=1000."""
    clock = 1000.0
    backoff = Backoff(base=0.5, cap=60, jitter=0.0)
    dues = [clock + backoff.delay(attempt) for attempt in (1, 2)]
    assert dues == [1000.5, 1001.0]


def _item(
    confidence: float, sensitive: bool = False, on_deny: str = "deny", attempt: int = 1
) -> PolicyInput:
    task = Task(tenant="acme", session="s", skill="echo", input={}, attempt=attempt, max_attempts=3)
    now = utc_now()
    result = Result(
        task_id=task.id,
        tenant="acme",
        session="s",
        skill="echo",
        attempt=attempt,
        status=ResultStatus.SUCCEEDED,
        output={},
        confidence=confidence,
        worker="w",
        trace_id=task.trace_id,
        started_at=now,
        finished_at=now + timedelta(seconds=1),
    )
    settings = ResolvedJudge(
        policy="threshold", thresholds=Thresholds(approve_at=0.8, review_at=0.5), on_deny=on_deny
    )  # type: ignore[arg-type]
    return PolicyInput(result=result, task=task, settings=settings, sensitive=sensitive)


@pytest.mark.parametrize(
    ("confidence", "verdict"),
    [
        (1.0, Verdict.APPROVE),
        (0.8, Verdict.APPROVE),
        (0.7999, Verdict.REVIEW),
        (0.5, Verdict.REVIEW),
        (0.4999, Verdict.DENY),
        (0.0, Verdict.DENY),
    ],
)
async def test_threshold_bands_inclusive_at_the_lower_edge(
    confidence: float, verdict: Verdict
) -> None:
    decision = await ThresholdPolicy().decide(_item(confidence))
    assert decision.verdict is verdict
    assert decision.policy == "threshold"
    assert decision.thresholds == Thresholds(approve_at=0.8, review_at=0.5)


async def test_sensitive_goes_to_review_even_when_confident() -> None:
    decision = await ThresholdPolicy().decide(_item(0.99, sensitive=True))
    assert decision.verdict is Verdict.REVIEW
    assert "sensitive" in decision.reason


async def test_retry_only_when_asked_and_attempts_remain() -> None:
    policy = ThresholdPolicy()
    assert (await policy.decide(_item(0.1))).retry is False
    assert (await policy.decide(_item(0.1, on_deny="retry"))).retry is True
    assert (await policy.decide(_item(0.1, on_deny="retry", attempt=3))).retry is False


async def test_same_input_same_decision() -> None:
    item = _item(0.65)
    first, second = await ThresholdPolicy().decide(item), await ThresholdPolicy().decide(item)
    assert first.model_dump(exclude={"decided_at"}) == second.model_dump(exclude={"decided_at"})
