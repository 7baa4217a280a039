"""The demo pipeline, driven through the engine with the mock backend and the demo's Judge.

Execution does not exist yet; this checks what it will rely on: every step of the demo gets an
input its skill accepts and a prompt that renders, from outputs the mock backend really gives,
and the two tickets below (the ``jobs:`` entries proposed for the demo) finish as intended
under the demo's thresholds.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from chimera.config.loader import load_swarm
from chimera.config.swarm import Swarm
from chimera.models.llm import Message
from chimera.models.pipeline import RunState, StepState
from chimera.services.mock_backend import MockBackend
from chimera.testing import make_request
from tests.chimera.pipeline_support import Driver, Enqueued

REPO = Path(__file__).resolve().parents[3]

BILLING = {
    "customer": "Dana",
    "subject": "Duplicate payment",
    "body": "Two identical payments left my card on 3 March.",
    "questions": ["Why was I charged twice?", "When will the second payment come back?"],
}
TECHNICAL = {
    "customer": "Lee",
    "subject": "Export fails",
    "body": "The export button does nothing since the update.",
    "questions": [
        "Is this a known problem?",
        "Is there a workaround until it is fixed?",
        "Will my scheduled exports still run?",
    ],
}


@pytest.fixture(scope="module")
def swarm() -> Swarm:
    return load_swarm(REPO / "swarm.yaml")


def run_on_mock(swarm: Swarm, ticket: dict[str, Any]) -> Driver:
    """Run every task on the mock backend and settle it as the demo's thresholds decide."""
    pipeline = swarm.pipelines["answer_ticket"]
    backend = MockBackend({name: skill.config.mock for name, skill in swarm.skills.items()})
    driver = Driver.start(pipeline, ticket)
    while pending := driver.pending_tasks():
        task: Enqueued = pending[0]
        skill = pipeline.steps[task.step].skill
        request = make_request(
            skill=skill.name,
            messages=[Message.user(skill.template.render(task.input))],
            output_schema=skill.config.output_schema,
            input=task.input,
        )
        response = asyncio.run(backend.complete(request))
        assert skill.output_errors(response.output) == []
        assert response.confidence is not None
        # The threshold policy's bands (no pipeline skill is sensitive).
        assert not skill.config.sensitive
        thresholds = swarm.judge_for("acme", skill.name).thresholds
        if response.confidence >= thresholds.approve_at:
            state = StepState.COMMITTED
        elif response.confidence >= thresholds.review_at:
            state = StepState.REVIEW
        else:
            state = StepState.DENIED
        output = dict(response.output) if state is StepState.COMMITTED else None
        driver.settle(task, state, output=output, reason=f"confidence {response.confidence}")
    return driver


def test_a_billing_ticket_runs_every_step(swarm: Swarm) -> None:
    driver = run_on_mock(swarm, BILLING)
    run = driver.run
    assert run.state is RunState.SUCCEEDED, run.reason
    assert run.steps["classify"].output == {"category": "billing", "priority": 4}
    assert driver.steps_enqueued() == ["classify", "refund", "answer", "reply"]
    assert [t.input["question"] for t in driver.tasks("answer")] == BILLING["questions"]
    reply = driver.task("reply").input
    assert reply["subject"] == "Re: Duplicate payment"
    answers = run.steps["answer"].output
    assert isinstance(answers, list)
    assert reply["answers"] == [item["answer"] for item in answers]
    assert run.output == run.steps["reply"].output


def test_other_tickets_skip_the_refund_check(swarm: Swarm) -> None:
    driver = run_on_mock(swarm, TECHNICAL)
    run = driver.run
    assert run.state is RunState.SUCCEEDED, run.reason
    assert run.steps["refund"].state is StepState.SKIPPED
    assert driver.steps_enqueued() == ["classify", "answer", "reply"]
    assert len(driver.task("reply").input["answers"]) == 3


def test_a_ticket_without_questions_gets_a_reply_from_no_answers(swarm: Swarm) -> None:
    driver = run_on_mock(swarm, {**TECHNICAL, "questions": []})
    assert driver.run.state is RunState.SUCCEEDED
    assert driver.run.steps["answer"].output == []
    assert driver.task("reply").input["answers"] == []
