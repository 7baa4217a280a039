"""``chimera task show``: one task's story from the audit trail and the stored records.

The audit trail tells what happened, attempt by attempt (the Worker's, the Judge's and the
reviewers' events); the stored records fill in what the trail keeps only in part: the
committed Result (prompt, output, usage), the Task while it is pending or in review (its
whole input, its earlier attempts' notes), the review item a task waits in, and its
dead letter. Everything is read through ports.
"""

from __future__ import annotations

from collections.abc import Callable

from chimera.models.audit import AuditEvent
from chimera.models.excerpts import cut, json_text
from chimera.models.result import Result
from chimera.models.task import Task
from chimera.ports.audit import AuditTrail
from chimera.ports.stores import (
    DeadLetterStore,
    ReviewStore,
    TaskState,
    TaskStatus,
    TaskStatusStore,
)
from chimera.services.story.build import Pricing, StoryBuilder
from chimera.services.story.model import Ending, TaskStory, Waiting
from chimera.services.tenants import TenantScope

#: A skill's pricing, by skill name (``None``: no price known for its model).
PriceOf = Callable[[str], Pricing | None]

#: The note of a story told without an audit trail.
NO_TRAIL = (
    "no audit trail to read: the swarm's audit sinks do not include `redis`, so only the "
    "stored records are shown (attempts, tool calls and decisions are missing)"
)


class TaskStories:
    """Tells the story of a task by id.

    Args:
        states: tasks by id (committed Result, review item, ledger row, settled state).
        trail: the ``redis`` audit sink's trail, or ``None`` when the swarm keeps none.
        reviews: the review queues (the proposed tool calls of a parked task).
        dead_letters: the dead-letter queues.
        scope: the swarm's tenants.
        price_of: the pricing of a skill's model, for the cost of each attempt.
        currency: what costs are in.
    """

    def __init__(
        self,
        states: TaskStatusStore,
        trail: AuditTrail | None,
        reviews: ReviewStore,
        dead_letters: DeadLetterStore,
        scope: TenantScope,
        price_of: PriceOf | None = None,
        currency: str | None = None,
    ) -> None:
        self.states = states
        self.trail = trail
        self.reviews = reviews
        self.dead_letters = dead_letters
        self.scope = scope
        self.price_of = price_of
        self.currency = currency

    async def show(self, task_id: str, tenant: str | None = None) -> TaskStory | None:
        """The story of ``task_id`` in ``tenant`` (or whichever tenant has it).

        Returns:
            ``None`` when no selected tenant has a record or an audit event of the task.

        Raises:
            UnknownTenant: ``tenant`` is not one of the swarm's.
        """
        tenants = self.scope.select(tenant)
        for name in tenants:
            status = await self.states.status(name, task_id)
            if status.state is not TaskState.UNKNOWN:
                return await self._tell(status, await self._events(name, task_id))
        # No stored record (expired, or never settled here): the trail may still know it.
        for name in tenants:
            events = await self._events(name, task_id)
            if events:
                return await self._tell(TaskStatus(task_id, name, TaskState.UNKNOWN), events)
        return None

    async def _events(self, tenant: str, task_id: str) -> list[AuditEvent]:
        if self.trail is None:
            return []
        return await self.trail.task_events(tenant, task_id)

    async def _tell(self, status: TaskStatus, events: list[AuditEvent]) -> TaskStory:
        story = TaskStory(status.task_id, status.tenant, status.state.value)
        story.currency = self.currency
        known = status.task or status.result
        skill = known.skill if known is not None else _skill_of(events)
        builder = StoryBuilder(story, self._pricing(skill))
        builder.apply_all(events)
        if self.trail is None:
            story.notes.append(NO_TRAIL)
        if status.result is not None:
            _with_result(builder, status.result, committed=status.state is TaskState.COMMITTED)
        if status.task is not None:
            _with_task(builder, status.task)
        if status.state is TaskState.REVIEW and status.decision is not None:
            await self._waiting(story, status)
        if status.cancellation is not None and story.cancellation is None:
            note = status.cancellation
            story.cancellation = Ending(at=note.at, by=note.actor, reason=note.reason)
        if status.state in (TaskState.DEAD_LETTERED, TaskState.UNKNOWN):
            await self._dead_letter(builder, status.tenant)
        if story.state == TaskState.UNKNOWN.value:
            story.state = _state_from_events(story)
        return story

    def _pricing(self, skill: str | None) -> Pricing | None:
        if skill is None or self.price_of is None:
            return None
        return self.price_of(skill)

    async def _waiting(self, story: TaskStory, status: TaskStatus) -> None:
        decision = status.decision
        assert decision is not None
        item = next(
            (i for i in await self.reviews.list(status.tenant) if i.task.id == story.task_id),
            None,
        )
        details = item.details if item is not None else {}
        story.waiting = Waiting(
            kind=str(details.get("kind") or "result"),
            reason=decision.reason,
            since=decision.decided_at,
            attempt=status.result.attempt if status.result else None,
            tool_calls=[
                {
                    "tool": call.get("tool"),
                    "server": call.get("server"),
                    "arguments": json_text(call.get("arguments")),
                }
                for call in details.get("tool_calls", [])
            ],
        )

    async def _dead_letter(self, builder: StoryBuilder, tenant: str) -> None:
        story = builder.story
        entry = next(
            (
                e
                for e in await self.dead_letters.list(tenant)
                if e.task is not None and e.task.id == story.task_id
            ),
            None,
        )
        if entry is None:
            if story.dead_letter is not None:
                story.dead_letter.in_queue = False
            return
        ending = story.dead_letter or Ending(at=None, by=None)
        ending.reason = ending.reason or entry.reason
        ending.error = ending.error or entry.last_error
        ending.attempt = ending.attempt or entry.attempts
        ending.in_queue = True
        story.dead_letter = ending
        if entry.task is not None:
            _with_task(builder, entry.task)
        if story.state == TaskState.UNKNOWN.value:
            story.state = TaskState.DEAD_LETTERED.value


def _with_result(builder: StoryBuilder, result: Result, committed: bool) -> None:
    """The stored Result (committed, or waiting for review) fills its attempt in whole."""
    story = builder.story
    story.session = story.session or result.session
    story.skill = story.skill or result.skill
    story.trace_id = story.trace_id or result.trace_id
    _pipeline_link(story, result)
    attempt = builder.attempt(result.attempt)
    attempt.status = result.status.value
    attempt.worker = result.worker
    attempt.started_at = attempt.started_at or result.started_at
    attempt.finished_at = result.finished_at
    attempt.run_ms = round(result.latency_ms, 3)
    attempt.prompt = result.prompt or attempt.prompt
    if result.output is not None:
        attempt.output, attempt.output_excerpt = result.output, None
    attempt.error = result.error or attempt.error
    attempt.error_kind = result.error_kind.value if result.error_kind else attempt.error_kind
    attempt.confidence = result.confidence if result.output is not None else attempt.confidence
    attempt.input_tokens = result.usage.prompt_tokens
    attempt.output_tokens = result.usage.completion_tokens
    builder.priced(attempt)
    if committed and attempt.ended is None:
        attempt.ended = "committed"


def _with_task(builder: StoryBuilder, task: Task) -> None:
    """The Task (pending, in review, or dead-lettered): its whole input and its notes."""
    story = builder.story
    story.input, story.input_excerpt = task.input, None
    story.session = story.session or task.session
    story.skill = story.skill or task.skill
    story.trace_id = story.trace_id or task.trace_id
    story.max_attempts = task.max_attempts
    _pipeline_link(story, task)
    for note in task.previous:
        attempt = builder.attempt(note.attempt)
        attempt.ended = attempt.ended or "retried"
        attempt.ended_by = attempt.ended_by or note.by
        attempt.ended_at = attempt.ended_at or note.at
        attempt.feedback = attempt.feedback or note.feedback
        attempt.error = attempt.error or note.error
        if attempt.confidence is None:
            attempt.confidence = note.confidence
        if attempt.output is None and attempt.output_excerpt is None and note.output:
            attempt.output_excerpt = cut(note.output)
    current = builder.attempt(task.attempt)
    if current.prompt is None and task.resume is not None:
        current.prompt = cut(task.resume.messages[0].content)


def _pipeline_link(story: TaskStory, record: Task | Result) -> None:
    """HOOK (pipelines): the run and step of a pipeline step, when its record carries them.

    Read defensively: ``Task`` and ``Result`` gain ``run``/``step`` with the pipeline
    runner (another change); until then this finds nothing.
    """
    run, step = getattr(record, "run", None), getattr(record, "step", None)
    if run is not None:
        story.pipeline = {"run": str(run), "step": None if step is None else str(step)}


def _skill_of(events: list[AuditEvent]) -> str | None:
    for event in events:
        skill = event.data.get("skill")
        if isinstance(skill, str):
            return skill
    return None


def _state_from_events(story: TaskStory) -> str:
    """The state the trail implies, when no stored record says (expired records)."""
    if story.cancellation is not None:
        return TaskState.CANCELLED.value
    if story.commit is not None:
        return TaskState.COMMITTED.value
    if story.dead_letter is not None:
        return TaskState.DEAD_LETTERED.value
    last = story.attempts[-1] if story.attempts else None
    if last is not None and last.ended in ("denied", "review"):
        return last.ended
    return TaskState.UNKNOWN.value
