"""The demo pipeline, driven through the engine with the mock backend's answers.

Execution does not exist yet; this checks what it will rely on: every step of the demo gets an
input its skill accepts and a prompt that renders, from outputs the mock backend really gives.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from chimera.config.loader import load_swarm
from chimera.config.swarm import Swarm
from chimera.models.config import MockConfig
from chimera.models.llm import Message
from chimera.models.pipeline import RunState, StepState
from chimera.services.mock_backend import MockBackend
from chimera.testing import make_request
from tests.chimera.pipeline_support import Driver, Enqueued

REPO = Path(__file__).resolve().parents[3]

TICKET = {
    "customer": "Dana",
    "subject": "Double charge",
    "body": "I was charged twice for March.",
    "questions": [
        "Why was I charged twice?",
        "When will I get the money back?",
        "Can I pay yearly?",
    ],
}


@pytest.fixture(scope="module")
def swarm() -> Swarm:
    return load_swarm(REPO / "swarm.yaml")


def answer_with_mock(swarm: Swarm, category: str) -> Any:
    """Commit each task with what the mock backend answers for its rendered prompt."""
    settings = {name: skill.config.mock for name, skill in swarm.skills.items()}
    settings["classify"] = MockConfig(output={"category": category, "priority": 2})
    backend = MockBackend(settings)

    def output(task: Enqueued) -> dict[str, Any]:
        step = swarm.pipelines["answer_ticket"].steps[task.step]
        prompt = step.skill.template.render(task.input)
        request = make_request(
            skill=step.skill.name,
            messages=[Message.user(prompt)],
            output_schema=step.skill.config.output_schema,
            input=task.input,
        )
        response = asyncio.run(backend.complete(request))
        assert step.skill.output_errors(response.output) == []
        return dict(response.output)

    return output


def test_a_billing_ticket_runs_every_step(swarm: Swarm) -> None:
    driver = Driver.start(swarm.pipelines["answer_ticket"], TICKET)
    driver.commit_all(answer_with_mock(swarm, "billing"))

    run = driver.run
    assert run.state is RunState.SUCCEEDED
    assert driver.steps_enqueued() == ["classify", "refund", "answer", "reply"]
    assert [t.input["question"] for t in driver.tasks("answer")] == TICKET["questions"]
    reply = driver.task("reply").input
    assert reply["subject"] == "Re: Double charge"
    answers = run.steps["answer"].output
    assert isinstance(answers, list)
    assert reply["answers"] == [item["answer"] for item in answers]
    assert run.output == run.steps["reply"].output


def test_other_tickets_skip_the_refund_check(swarm: Swarm) -> None:
    driver = Driver.start(swarm.pipelines["answer_ticket"], {**TICKET, "questions": []})
    driver.commit_all(answer_with_mock(swarm, "technical"))

    run = driver.run
    assert run.state is RunState.SUCCEEDED
    assert run.steps["refund"].state is StepState.SKIPPED
    assert run.steps["answer"].output == []
    assert driver.task("reply").input["answers"] == []
    assert driver.steps_enqueued() == ["classify", "reply"]
