"""DEBUG lines of one attempt (its rendered prompt, what it came to) and its settlement's name.

Callers check :func:`~chimera.lib.logging.debug_enabled` first, so none of this is built
while DEBUG is off.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chimera.lib.logging import get_logger
from chimera.models.llm import LLMRequest
from chimera.models.task import Task
from chimera.models.types import utc_now
from chimera.ports.queue import Delivery
from chimera.services.worker.core import GiveUp, Publish, Retry, Settlement, Wait
from chimera.services.worker.events import log_ids

if TYPE_CHECKING:
    from chimera.services.worker.task_run import TaskRun

log = get_logger("chimera.worker")

#: Longest rendered prompt a DEBUG line carries.
MAX_LOGGED_PROMPT = 2000


def settlement_name(settlement: Settlement) -> tuple[str, str | None]:
    """What an attempt came to, and its error kind if it failed: for spans and logs."""
    if isinstance(settlement, Publish):
        kind = settlement.result.error_kind
        return "publish", kind.value if kind is not None else None
    if isinstance(settlement, Retry):
        return "retry", "retry"
    if isinstance(settlement, Wait):
        return "wait", None
    return "dead_letter", "dead_letter"


def log_rendered(delivery: Delivery[Task], request: LLMRequest) -> None:
    """DEBUG: the prompt a task rendered to (cut to :data:`MAX_LOGGED_PROMPT` characters)."""
    prompt = request.prompt
    log.debug(
        "task.rendered",
        skill=request.skill,
        attempt=request.attempt,
        model=request.model,
        prompt_chars=len(prompt),
        prompt=prompt[:MAX_LOGGED_PROMPT],
        **log_ids(delivery),
    )


def log_settled(run: TaskRun) -> None:
    """DEBUG: what an attempt came to and how long it took."""
    name, error = settlement_name(run.settlement)
    settlement = run.settlement
    started = run.started_at
    log.debug(
        "task.attempt_done",
        settlement=name,
        error=error,
        steps=run.steps,
        tool_calls=len(run.tool_calls),
        run_ms=round((utc_now() - started).total_seconds() * 1000.0, 3) if started else None,
        due=settlement.due if isinstance(settlement, Retry) else None,
        reason=_reason(settlement),
        **log_ids(run.delivery),
    )


def _reason(settlement: Settlement) -> str | None:
    if isinstance(settlement, GiveUp):
        return settlement.letter.reason
    if isinstance(settlement, Wait):
        return settlement.reason
    return None
