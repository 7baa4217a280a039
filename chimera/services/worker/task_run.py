"""One task's way through a Worker, top to bottom: entry → checks → agent loop → settlement.

:meth:`TaskRunner.run` is the whole story of one delivery. It does no Redis I/O: what it
returns (a :class:`TaskRun`) is handed to the outbox, which publishes, retries or
dead-letters it in a batch with the others.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from pydantic_core import to_json

from chimera.config.swarm import Skill, Swarm
from chimera.lib.logging import debug_enabled, get_logger
from chimera.models.result import ErrorKind
from chimera.models.task import Task
from chimera.models.types import utc_now
from chimera.ports.llm import LLMBackend
from chimera.ports.metrics import NO_METRICS, Metrics
from chimera.ports.queue import DeadLetter, Delivery
from chimera.ports.tools import ToolBinding, Toolbox, ToolUnavailable
from chimera.services.tool_catalog import ToolCatalogError
from chimera.services.worker.agent import (
    AgentLimits,
    NeedsApproval,
    ToolCallRecord,
    run_agent,
)
from chimera.services.worker.approval import waiting_item
from chimera.services.worker.attempt_log import log_rendered, log_settled, settlement_name
from chimera.services.worker.core import (
    MAX_ERROR_CHARS,
    Answer,
    Failure,
    GiveUp,
    Park,
    Prepared,
    Settlement,
    prepare,
    settle,
)
from chimera.services.worker.deadlines import Deadlines
from chimera.services.worker.drift import DriftGuard
from chimera.telemetry import spans

log = get_logger("chimera.worker")

#: What an attempt's agent loop came to, after the output's schema check.
AgentOutcome = Answer | Failure | NeedsApproval

#: How much of an undecodable entry's body a dead letter keeps.
MAX_RAW_CHARS = 4096
#: Steps of a skill without tools: one call, one answer.
SINGLE_STEP = 1


@dataclass
class TaskRun:
    """What became of one delivery, with the facts its audit events are built from."""

    delivery: Delivery[Task]
    settlement: Settlement
    started_at: datetime | None = None
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    steps: int = 0
    prompt: str | None = None
    """The rendered prompt (kept in the audit trail when the attempt fails)."""
    answer: str | None = None
    """The model's last answer as text: its raw text, or the output that broke the schema."""


class TaskRunner:
    """Runs delivered tasks for one Worker.

    Args:
        swarm: skills and tenants.
        backends: LLM backends by registered name.
        consumer: the Worker's consumer name (recorded in Results).
        max_deliveries: an entry delivered more often than this is poison.
        toolbox: calls the skills' tools; ``None`` when no skill has any.
        tools_for: the tools of a skill, by the name the model sees.
        clock: epoch seconds (retry due times).
        rng: jitter source for retry backoff.
        metrics: counts and times LLM and tool calls.
        drift: decides about tasks planned with another swarm.yaml (see
            :mod:`~chimera.services.worker.drift`).
    """

    def __init__(
        self,
        swarm: Swarm,
        backends: Mapping[str, LLMBackend],
        consumer: str,
        max_deliveries: int,
        toolbox: Toolbox | None = None,
        tools_for: Callable[[Skill, str], Awaitable[Mapping[str, ToolBinding]]] | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        metrics: Metrics = NO_METRICS,
        drift: DriftGuard | None = None,
    ) -> None:
        self.swarm = swarm
        self.drift = drift or DriftGuard(swarm, wait_s=600.0, recheck_s=5.0, clock=clock)
        self.backends = backends
        self.consumer = consumer
        self.max_deliveries = max_deliveries
        self.toolbox = toolbox
        self.tools_for = tools_for
        self.clock = clock
        self.rng = rng or random.Random()
        self.metrics = metrics
        #: One timer for the time limits of every backend call in flight.
        self.deadlines = Deadlines()

    async def run(self, delivery: Delivery[Task]) -> TaskRun:
        """Take ``delivery`` from its stream entry to its settlement, in its trace's span."""
        with spans.process_task(delivery, self.consumer) as span:
            run = await self._run(delivery)
            if span is not None:
                spans.task_settled(span, *settlement_name(run.settlement))
                # What follows (the Result, a retry) continues the trace from this span.
                run.delivery = spans.carry(delivery, span)
        if debug_enabled():
            log_settled(run)
        return run

    async def _run(self, delivery: Delivery[Task]) -> TaskRun:
        task = delivery.message
        if task is None:  # admission dead-letters these first; never run one regardless
            reason = f"undecodable task entry: {delivery.problem}"
            return TaskRun(delivery, GiveUp(DeadLetter(reason, 0, None, in_ledger=False)))
        if delivery.deliveries > self.max_deliveries:
            reason = f"poison: delivered {delivery.deliveries} times"
            return TaskRun(delivery, GiveUp(DeadLetter(reason, task.attempt, None)))
        waiting = self.drift.before_run(task, delivery.tenant)
        if waiting is not None:
            return TaskRun(delivery, waiting)
        self.drift.planned_elsewhere(task)
        started = utc_now()
        prepared = prepare(task, delivery.tenant, self.swarm)
        prompt: str | None = None
        if isinstance(prepared, Failure):
            waiting = self.drift.after_failure(task, prepared)
            if waiting is not None:
                return TaskRun(delivery, waiting)
            outcome: Answer | Failure = prepared
            tool_calls: list[ToolCallRecord] = []
            answer: str | None = None
        else:
            prompt = prepared.request.messages[0].content
            if debug_enabled():
                log_rendered(delivery, prepared.request)
            agent, tool_calls, tools, answer = await self._agent(prepared, task, delivery.tenant)
            if isinstance(agent, NeedsApproval):
                try:
                    item = waiting_item(
                        task,
                        agent,
                        tools,
                        worker=self.consumer,
                        started_at=started,
                        finished_at=utc_now(),
                    )
                except ValueError as exc:
                    # Too long a conversation to park (MAX_PAUSE_BYTES): the calls never run
                    # unapproved, so the attempt fails; another may take a shorter path.
                    agent = Failure(ErrorKind.TOOL, f"cannot wait for approval: {exc}")
                else:
                    return TaskRun(delivery, Park(item), started, tool_calls, agent.steps)
            outcome = agent
        settlement = settle(
            task,
            self.swarm.skills.get(task.skill),
            outcome,
            worker=self.consumer,
            started_at=started,
            finished_at=utc_now(),
            now=self.clock(),
            rng=self.rng,
            prompt=prompt,
        )
        steps = outcome.steps if isinstance(outcome, Answer) else 0
        return TaskRun(delivery, settlement, started, tool_calls, steps, prompt, answer)

    async def _agent(
        self, prepared: Prepared, task: Task, tenant: str
    ) -> tuple[AgentOutcome, list[ToolCallRecord], Mapping[str, ToolBinding], str | None]:
        config = prepared.skill.config
        backend = self.backends.get(config.backend)
        if backend is None:
            failure = Failure(ErrorKind.BACKEND, f"backend {config.backend!r} is not installed")
            return failure, [], {}, None
        tools = await self._tools(prepared.skill, tenant)
        if isinstance(tools, Failure):
            return tools, [], {}, None
        request = prepared.request
        if tools:
            request = request.model_copy(update={"tools": [b.spec for b in tools.values()]})
        limits = AgentLimits(
            max_steps=config.max_steps if tools else SINGLE_STEP,
            timeout_s=config.timeout_s,
            default_confidence=config.default_confidence,
        )
        agent = await run_agent(
            request,
            backend,
            limits,
            tenant,
            tools,
            self.toolbox,
            metrics=self.metrics,
            resume=task.resume,
            deadlines=self.deadlines,
        )
        outcome = agent.outcome
        if isinstance(outcome, NeedsApproval):
            return outcome, agent.tool_calls, tools, agent.raw
        answer = agent.raw
        if isinstance(outcome, Answer):
            errors = prepared.skill.output_errors(outcome.output)
            if errors:
                message = "output does not match schema: " + "; ".join(errors)
                # The output that broke the schema is the answer worth keeping.
                answer = answer or to_json(outcome.output).decode()
                outcome = Failure(ErrorKind.INVALID_OUTPUT, message[:MAX_ERROR_CHARS])
        return outcome, agent.tool_calls, tools, answer

    async def _tools(self, skill: Skill, tenant: str) -> Mapping[str, ToolBinding] | Failure:
        """The skill's tools for ``tenant``, or why they cannot be had."""
        if not skill.config.tools:
            return {}
        if self.tools_for is None:
            return Failure(ErrorKind.CONFIG, "the skill has tools but this worker has no toolbox")
        try:
            return await self.tools_for(skill, tenant)
        except ToolUnavailable as exc:
            return Failure(ErrorKind.TOOL, f"tool server unavailable: {exc}")
        except ToolCatalogError as exc:
            # The files and the servers disagree: another attempt cannot fix that.
            return Failure(ErrorKind.CONFIG, str(exc))
