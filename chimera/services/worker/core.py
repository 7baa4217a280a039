"""The Worker's decisions about one task, as plain functions: no Redis, no event loop.

:func:`prepare` turns a Task into the first request to its backend (or a failure: wrong
tenant, unknown skill, input that breaks the schema, a prompt that does not render).
:func:`settle` turns what the agent loop came to into what must happen next: publish a
Result for the Judge, try again later, or give up (dead-letter). Both are pure, so every
rule here is tested with plain unit tests.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime

from chimera.config.swarm import Skill, Swarm
from chimera.config.templates import TemplateRenderError
from chimera.lib.logging import redact_text
from chimera.models.llm import ConfidenceSource, LLMRequest, Message
from chimera.models.result import ErrorKind, Result, ResultStatus, Usage
from chimera.models.task import Task
from chimera.models.trusted import trusted
from chimera.models.types import MAX_TEXT_CHARS, JsonObject, check_payload_size
from chimera.ports.queue import DeadLetter
from chimera.ports.stores import ReviewItem
from chimera.services.retry import Backoff

#: Longest error text kept in a Result or a dead letter: enough to diagnose, bounded so a
#: backend that echoes a whole request cannot blow up a stream entry.
MAX_ERROR_CHARS = 2000


@dataclass(frozen=True)
class Prepared:
    """A task ready for its agent loop: the skill and the first request."""

    skill: Skill
    request: LLMRequest


@dataclass(frozen=True)
class Failure:
    """Why an attempt produced no output.

    Attributes:
        kind: decides whether another attempt may help (``ErrorKind.retryable``).
        message: what went wrong, for the Result, the dead letter and the audit trail.
        retry_after_s: the backend's own hint of when to try again, if it gave one.
    """

    kind: ErrorKind
    message: str
    retry_after_s: float | None = None


@dataclass(frozen=True)
class Answer:
    """The final output of an agent loop, with what it cost and how sure it is."""

    output: JsonObject
    confidence: float
    confidence_source: ConfidenceSource
    usage: Usage = field(default_factory=Usage)
    steps: int = 1


@dataclass(frozen=True)
class Publish:
    """Send this Result to the Judge and ack the task."""

    result: Result


@dataclass(frozen=True)
class Retry:
    """Ack the task and run ``task`` (its next attempt) at epoch second ``due``."""

    task: Task
    due: float
    error: str


@dataclass(frozen=True)
class GiveUp:
    """Dead-letter the task with ``letter`` as the reason."""

    letter: DeadLetter


@dataclass(frozen=True)
class Wait:
    """Hand the task back without counting an attempt; ``task`` (as it waits) runs at ``due``.

    For a task this Worker cannot understand (its skill is not in this Worker's swarm): an
    up-to-date Worker may take it meanwhile.
    """

    task: Task
    due: float
    reason: str


@dataclass(frozen=True)
class Park:
    """Park the task in the review queue with ``item`` until a human decides.

    Its tool calls wait for approval; see :mod:`chimera.services.worker.approval`.
    """

    item: ReviewItem


Settlement = Publish | Retry | GiveUp | Wait | Park


def cannot_run(task: Task, tenant: str, swarm: Swarm) -> str | None:
    """Why a task of ``tenant`` names a skill this swarm cannot run for it, if it does.

    A task that reached a Worker was admitted: it is in its tenant's ledger, so a Planner
    accepted it. If this swarm does not know its skill, or does not let the tenant run
    it, the Planner's swarm.yaml is newer than this Worker's (config drift): the task
    waits for an up-to-date Worker rather than being failed for good.
    """
    if task.skill not in swarm.skills:
        return f"skill {task.skill!r} is not in this worker's swarm"
    if not swarm.tenant_may_run(tenant, task.skill):
        return f"this worker's swarm does not let tenant {tenant!r} run skill {task.skill!r}"
    return None


def wait_for_update(
    task: Task, reason: str, now: float, wait_s: float, recheck_s: float
) -> Wait | GiveUp:
    """Hand ``task`` back for an up-to-date Worker, or give up once it waited ``wait_s``.

    The wait counts from the first hand-back (``Task.waiting_since``); the dead letter
    says why, and is replayed like any other once every Worker runs the new swarm.yaml.
    """
    since = task.waiting_since.timestamp() if task.waiting_since is not None else now
    if now - since >= wait_s:
        reason = (
            f"config drift: {reason}, and no worker that took it could run it within "
            f"{wait_s:g}s; replay it once the workers run the swarm.yaml it was planned with"
        )
        return GiveUp(DeadLetter(reason, task.attempt, None))
    waiting = task
    if task.waiting_since is None:
        waiting = task.model_copy(update={"waiting_since": datetime.fromtimestamp(now, UTC)})
    return Wait(waiting, now + recheck_s, reason)


def prepare(task: Task, tenant: str, swarm: Swarm) -> Prepared | Failure:
    """Check ``task`` against the swarm and render its prompt.

    Args:
        task: the decoded task.
        tenant: the tenant whose stream the task came from. The stream is the authority:
            a task whose body names another tenant is refused, whatever it says.
        swarm: skills, tenants and their permissions.

    Returns:
        The first request for the backend, or the (non-retryable) failure.
    """
    if task.tenant != tenant:
        return Failure(
            ErrorKind.INVALID_INPUT,
            f"task names tenant {task.tenant!r} but came from tenant {tenant!r}",
        )
    skill = swarm.skills.get(task.skill)
    if skill is None or not swarm.tenant_may_run(tenant, task.skill):
        return Failure(
            ErrorKind.INVALID_INPUT, f"tenant {tenant!r} may not run skill {task.skill!r}"
        )
    errors = skill.input_errors(task.input)
    if errors:
        return Failure(ErrorKind.INVALID_INPUT, "input does not match schema: " + "; ".join(errors))
    try:
        prompt = skill.template.render(
            task.input,
            feedback=task.feedback,
            attempt=task.attempt,
            skill=task.skill,
            tenant=tenant,
        )
    except TemplateRenderError as exc:
        return Failure(ErrorKind.INVALID_INPUT, f"prompt: {exc}")
    config = skill.config
    # Every field comes from validated config or a validated Task: skip re-validating the
    # output schema (a nested dict) on every call.
    request = trusted(
        LLMRequest,
        skill=task.skill,
        messages=[Message.user(prompt)],
        output_schema=config.output_schema,
        tools=[],
        model=config.model,
        options=config.options,
        input=task.input,
        attempt=task.attempt,
        step=1,
    )
    return Prepared(skill=skill, request=request)


def attempt_budget(task: Task, skill: Skill | None) -> int:
    """How many attempts ``task`` may have: its skill's limit, never more.

    The Task carries the limit it was planned with; a body that claims more than the skill
    allows (a forged or hand-edited entry) does not buy extra attempts.
    """
    if skill is None:
        return task.attempt
    return min(task.max_attempts, skill.config.retry.max_attempts)


def settle(
    task: Task,
    skill: Skill | None,
    outcome: Answer | Failure,
    *,
    worker: str,
    started_at: datetime,
    finished_at: datetime,
    now: float,
    rng: random.Random,
    prompt: str | None = None,
) -> Settlement:
    """Decide what follows an attempt.

    An answer becomes a succeeded Result. A retryable failure is tried again after an
    exponential, jittered backoff while attempts remain, and dead-lettered after the last
    one. Any other failure becomes a failed Result, which the Judge denies with its reason.

    Args:
        task: the attempt that ran.
        skill: its skill, or ``None`` when the swarm does not know it.
        outcome: what the agent loop came to.
        worker: this Worker's consumer name, recorded in the Result.
        started_at: when the attempt started.
        finished_at: when it ended.
        now: epoch seconds, the base of a retry's due time.
        rng: jitter source.
        prompt: the rendered prompt, kept in the Result (cut to ``MAX_TEXT_CHARS``).
    """
    if isinstance(outcome, Answer):
        return Publish(
            _result(
                task,
                worker,
                started_at,
                finished_at,
                status=ResultStatus.SUCCEEDED,
                output=outcome.output,
                confidence=outcome.confidence,
                usage=outcome.usage,
                prompt=prompt,
            )
        )
    # An error's text comes from elsewhere (a backend echoing its request, a tool): it goes
    # into the Result, a dead letter and the audit trail without any secret it repeats.
    message = redact_text(outcome.message)[:MAX_ERROR_CHARS]
    if outcome.kind.retryable and skill is not None:
        if task.attempt < attempt_budget(task, skill):
            backoff = Backoff.from_config(skill.config.retry)
            due = now + backoff.delay(task.attempt, rng, outcome.retry_after_s)
            following = task.next_attempt(
                task.feedback, by="worker", error=f"{outcome.kind}: {message}"
            )
            return Retry(following, due, message)
        return GiveUp(
            DeadLetter(
                f"gave up after {task.attempt} attempts", task.attempt, f"{outcome.kind}: {message}"
            )
        )
    return Publish(
        _result(
            task,
            worker,
            started_at,
            finished_at,
            status=ResultStatus.FAILED,
            error=message,
            error_kind=outcome.kind,
            confidence=0.0,
            prompt=prompt,
        )
    )


def bounded_text(text: str | None, limit: int = MAX_TEXT_CHARS) -> str | None:
    """``text`` cut to at most ``limit`` characters, the cut marked (``None`` stays ``None``)."""
    if text is None or len(text) <= limit:
        return text
    marker = f"\n[... {len(text) - limit} more characters]"
    return text[: limit - len(marker)] + marker


def _result(
    task: Task,
    worker: str,
    started_at: datetime,
    finished_at: datetime,
    *,
    status: ResultStatus,
    confidence: float,
    output: JsonObject | None = None,
    error: str | None = None,
    error_kind: ErrorKind | None = None,
    usage: Usage | None = None,
    prompt: str | None = None,
) -> Result:
    # Every value is valid already: ids from the validated Task, texts cut to their bounds
    # here, the output checked against the skill's schema. Only its size is measured, as
    # validating the Result would; the rest is not checked a second time on every task.
    if output is not None:
        check_payload_size(output)
    return trusted(
        Result,
        task_id=task.id,
        tenant=task.tenant,
        session=task.session,
        skill=task.skill,
        attempt=task.attempt,
        status=status,
        output=output,
        error=error,
        error_kind=error_kind,
        confidence=confidence,
        usage=usage or Usage(),
        prompt=bounded_text(prompt),
        worker=worker,
        trace_id=task.trace_id,
        started_at=started_at,
        # A wall clock stepped back mid-attempt must not make a Result no Judge can read.
        finished_at=max(finished_at, started_at),
    )
