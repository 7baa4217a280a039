"""Sensitive tool calls wait for a human: the review item a paused conversation becomes.

A call to a tool (or server) marked ``sensitive`` is a side effect nobody should cause
unseen. The agent loop stops before it runs (``NeedsApproval``); the task is parked in the
tenant's review queue with the conversation so far and the calls that wait; a reviewer's
``approve`` resumes it on any Worker with the calls run, ``reject --reason`` with the
refusal handed to the model as the calls' result.

The parked item is an ordinary review item, so it shows, lists and filters like any other:
its Result says what waits (no output yet) and its ``details`` carry the conversation.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from chimera.models.decision import Decision, Verdict
from chimera.models.llm import PausedConversation
from chimera.models.result import ErrorKind, Result, ResultStatus
from chimera.models.task import Task
from chimera.ports.stores import ReviewItem
from chimera.ports.tools import ToolBinding
from chimera.services.worker.agent import NeedsApproval

#: ``details["kind"]`` of a review item that holds tool calls waiting for approval.
TOOL_CALLS = "tool_calls"
#: The policy named in the decision of such an item.
APPROVAL_POLICY = "tool_approval"


def waiting_item(
    task: Task,
    pause: NeedsApproval,
    tools: Mapping[str, ToolBinding],
    *,
    worker: str,
    started_at: datetime,
    finished_at: datetime,
) -> ReviewItem:
    """The review item of a conversation stopped at sensitive tool calls."""
    names = ", ".join(call.name for call in pause.calls)
    result = Result(
        task_id=task.id,
        tenant=task.tenant,
        session=task.session,
        skill=task.skill,
        attempt=task.attempt,
        status=ResultStatus.FAILED,
        error=f"waiting for a human to approve tool call(s): {names}",
        error_kind=ErrorKind.TOOL,
        confidence=0.0,
        usage=pause.usage,
        worker=worker,
        trace_id=task.trace_id,
        started_at=started_at,
        finished_at=finished_at,
    )
    decision = Decision.on(
        result,
        Verdict.REVIEW,
        f"sensitive tool call(s) {names} wait for a human's approval",
        APPROVAL_POLICY,
    )
    paused = PausedConversation(
        messages=pause.messages, calls=pause.calls, steps=pause.steps, usage=pause.usage
    )
    proposed: list[dict[str, Any]] = [
        {
            "call_id": call.id,
            "tool": call.name,
            "server": tools[call.name].server if call.name in tools else None,
            "arguments": call.arguments,
        }
        for call in pause.calls
    ]
    details = {
        "kind": TOOL_CALLS,
        "tool_calls": proposed,
        "paused": paused.model_dump(mode="json"),
    }
    return ReviewItem(task=task, result=result, decision=decision, details=details)


def is_tool_approval(item: ReviewItem) -> bool:
    """Whether ``item`` holds tool calls waiting for approval (not a Result to judge)."""
    return item.details.get("kind") == TOOL_CALLS


def resumed_task(item: ReviewItem, approved: bool, note: str | None, by: str) -> Task:
    """The task that goes on with ``item``'s conversation, the human's answer in it.

    The attempt stays the same: the conversation continues where it stopped.
    """
    paused = PausedConversation.model_validate(item.details["paused"])
    answered = paused.model_copy(update={"approved": approved, "note": note, "by": by})
    return item.task.model_copy(update={"resume": answered})
