"""The review item: a Result parked for a human, with its Task and the Judge's decision.

Stored as JSON ``{"task": …, "result": …, "decision": …}`` under the task id in the
tenant's ``review`` hash, by ``JUDGE_APPLY`` (action ``review``). Other top-level parts (the
proposed calls of a sensitive tool call) are kept as the item's ``details``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from chimera.lib.logging import get_logger
from chimera.lib.records import RecordError
from chimera.models.decision import Decision
from chimera.models.result import Result
from chimera.models.task import Task
from chimera.ports.stores import ReviewItem

M = TypeVar("M", bound=BaseModel)

#: The parts every review item has; anything else is a detail.
_PARTS = ("task", "result", "decision")

log = get_logger("chimera.records")


def encode(item: ReviewItem) -> str:
    """The stored JSON of ``item``."""
    return json.dumps(
        {
            **item.details,
            "task": json.loads(item.task.model_dump_json()),
            "result": json.loads(item.result.model_dump_json()),
            "decision": json.loads(item.decision.model_dump_json()),
        }
    )


def decode(text: str) -> ReviewItem:
    """Read a stored review item.

    Raises:
        RecordError: not JSON, not an object, or a part missing or invalid.
    """
    data = _object(text)
    missing = [part for part in _PARTS if part not in data]
    if missing:
        raise RecordError(f"review item has no {' or '.join(map(repr, missing))}")
    try:
        return ReviewItem(
            task=Task.model_validate(data["task"]),
            result=Result.model_validate(data["result"]),
            decision=Decision.model_validate(data["decision"]),
            details={k: v for k, v in data.items() if k not in _PARTS},
        )
    except ValidationError as exc:
        raise RecordError(f"review item does not validate: {_first_error(exc)}") from None


def readable(tenant: str, stored: Mapping[str, str]) -> list[ReviewItem]:
    """The items of a tenant's review hash that can be read, oldest task first.

    An item that cannot be read is left out with a warning naming it and why; it stays
    stored, and a task lookup still shows it in review.
    """
    items = []
    for task_id, text in stored.items():
        try:
            items.append(decode(text))
        except RecordError as exc:
            log.warning("review.unreadable_item", tenant=tenant, task_id=task_id, problem=str(exc))
    return sorted(items, key=lambda item: item.task.id)


@dataclass(frozen=True)
class ReviewParts:
    """Whatever parts of a review item could be read (``None`` for the others)."""

    task: Task | None
    result: Result | None
    decision: Decision | None


def decode_parts(text: str) -> ReviewParts:
    """Read what can be read of a review item, never failing.

    Items parked for other reasons (a sensitive tool call) may carry other fields: a task
    lookup still shows the item as in review, with the parts that parse.
    """
    try:
        data = _object(text)
    except RecordError:
        return ReviewParts(None, None, None)
    return ReviewParts(
        task=_part(Task, data.get("task")),
        result=_part(Result, data.get("result")),
        decision=_part(Decision, data.get("decision")),
    )


def _object(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise RecordError(f"review item is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise RecordError(f"review item is a JSON {type(data).__name__}, not an object")
    return data


def _part(model: type[M], value: Any) -> M | None:
    if value is None:
        return None
    try:
        return model.model_validate(value)
    except ValidationError:
        return None


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"]) or "(root)"
    return f"{exc.title} {where}: {error['msg']}"
