"""Spans of a task's way, recorded by the OpenTelemetry SDK's in-memory exporter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from chimera.lib.keys import Keyspace
from chimera.models.llm import LLMResponse, ToolCall
from chimera.models.result import ErrorKind, Usage
from chimera.ports.judge import CommitOutcome, Judged
from chimera.ports.llm import BackendError
from chimera.ports.queue import Delivery
from chimera.ports.tools import ToolResult
from chimera.services.planner import Submission
from chimera.services.worker.agent import AgentLimits, run_agent
from chimera.telemetry import names, tracing
from chimera.testing import FakeToolbox, binding, make_request, make_result
from tests.chimera.helpers import FakeBackend, Running, eventually, write_swarm
from tests.chimera.stack import Stack
from tests.chimera.tracing import content_spans, named, one, parent_of, spans

__all__ = ["content_spans", "spans"]


def traceparent(span: ReadableSpan) -> str:
    context = span.context
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def stack_for(tmp_path: Path, client: aioredis.Redis, keyspace: Keyspace, **kw: object) -> Stack:
    return Stack(write_swarm(tmp_path), client, keyspace, {"fake": FakeBackend(**kw)})  # type: ignore[arg-type]


async def run_one(stack: Stack, text: str = "hello") -> tuple[str, str, dict[str, str]]:
    """Submit one task and run a Worker until its Result is out: trace id, the task entry."""
    [task] = await stack.planner().submit([Submission("acme", "echo", {"text": text})])
    [(entry_id, fields)] = await stack.client.xrange(stack.keys().tasks)
    results = stack.keys().results
    async with Running(stack.worker()):
        await eventually(lambda: _length(stack.client, results, 1))
    return task.trace_id, entry_id, fields


async def _length(client: aioredis.Redis, key: str, at_least: int) -> bool:
    return bool(await client.xlen(key) >= at_least)


async def test_submit_and_worker_spans_make_one_trace(
    tmp_path: Path, fake_redis: aioredis.Redis, keyspace: Keyspace, spans: InMemorySpanExporter
) -> None:
    stack = stack_for(tmp_path, fake_redis, keyspace)
    trace_id, entry_id, fields = await run_one(stack)
    finished = spans.get_finished_spans()
    send, process, chat = (one(finished, n) for n in ("send tasks", "process tasks", "chat"))
    assert {s.context.trace_id for s in (send, process, chat)} == {int(trace_id, 16)}
    assert send.parent is None
    assert send.kind is SpanKind.PRODUCER
    assert parent_of(process) == send.context.span_id
    assert process.kind is SpanKind.CONSUMER
    assert parent_of(chat) == process.context.span_id
    assert chat.kind is SpanKind.CLIENT
    assert fields["traceparent"] == traceparent(send)
    assert send.attributes is not None
    assert process.attributes is not None
    assert send.attributes[names.MESSAGING_SYSTEM] == "redis"
    assert send.attributes[names.MESSAGING_DESTINATION] == "{acme}:tasks"
    assert send.attributes[names.MESSAGING_MESSAGE_ID] == entry_id
    assert process.attributes[names.MESSAGING_MESSAGE_ID] == entry_id
    assert process.attributes[names.MESSAGING_OPERATION_TYPE] == "process"
    assert process.attributes[names.SETTLEMENT] == "publish"
    assert chat.attributes is not None
    assert chat.attributes[names.GEN_AI_OPERATION] == "chat"
    assert chat.attributes[names.GEN_AI_PROVIDER] == "fake"
    # The Result the Worker published carries the trace it belongs to.
    [(_, result_fields)] = await fake_redis.xrange(stack.keys().results)
    assert json.loads(result_fields["body"])["trace_id"] == trace_id


async def test_content_is_not_recorded_unless_asked_for(
    tmp_path: Path, fake_redis: aioredis.Redis, keyspace: Keyspace, spans: InMemorySpanExporter
) -> None:
    await run_one(stack_for(tmp_path, fake_redis, keyspace), text="my secret ticket")
    for span in spans.get_finished_spans():
        values = " ".join(str(v) for v in (span.attributes or {}).values())
        assert "my secret ticket" not in values
        assert names.GEN_AI_INPUT_MESSAGES not in (span.attributes or {})


async def test_content_capture_records_the_prompt_and_the_answer(
    tmp_path: Path,
    fake_redis: aioredis.Redis,
    keyspace: Keyspace,
    content_spans: InMemorySpanExporter,
) -> None:
    await run_one(stack_for(tmp_path, fake_redis, keyspace), text="my ticket")
    chat = one(content_spans.get_finished_spans(), "chat")
    assert chat.attributes is not None
    sent = json.loads(str(chat.attributes[names.GEN_AI_INPUT_MESSAGES]))
    assert sent == [{"role": "user", "parts": [{"type": "text", "content": "Echo my ticket"}]}]
    answer = json.loads(str(chat.attributes[names.GEN_AI_OUTPUT_MESSAGES]))
    assert json.loads(answer[0]["parts"][0]["content"]) == {"echo": "my ticket"}


async def test_a_failed_backend_call_marks_chat_and_attempt(
    tmp_path: Path, fake_redis: aioredis.Redis, keyspace: Keyspace, spans: InMemorySpanExporter
) -> None:
    stack = stack_for(
        tmp_path, fake_redis, keyspace, fail_times=1, error=BackendError("503", ErrorKind.BACKEND)
    )
    await stack.planner().submit([Submission("acme", "echo", {"text": "x"})])
    async with Running(stack.worker(promote_every_s=0.01)):
        await eventually(lambda: _length(stack.client, stack.keys().results, 1))
    finished = spans.get_finished_spans()
    chats = named(finished, "chat")
    processes = named(finished, "process tasks")
    assert [c.status.status_code for c in chats] == [StatusCode.ERROR, StatusCode.UNSET]
    assert chats[0].attributes is not None
    assert chats[0].attributes[names.ERROR_TYPE] == "backend"
    assert [p.attributes[names.SETTLEMENT] for p in processes if p.attributes] == [
        "retry",
        "publish",
    ]
    assert processes[0].status.status_code is StatusCode.ERROR
    # The retry went through the delayed set and still continues the same trace, from the
    # attempt that asked for it.
    assert len({span.context.trace_id for span in finished}) == 1
    assert parent_of(processes[1]) == processes[0].context.span_id


async def test_tool_calls_are_execute_tool_spans_inside_the_attempt(
    spans: InMemorySpanExporter,
) -> None:
    toolbox = FakeToolbox(
        {
            ("shop", "lookup"): lambda a: ToolResult("shipped"),
            ("shop", "refund"): lambda a: ToolResult("not allowed", is_error=True),
        }
    )
    tools = {"lookup": binding("shop", "lookup"), "refund": binding("shop", "refund")}

    class TwoSteps:
        name = "scripted"
        calls = 0

        async def complete(self, request: object) -> LLMResponse:
            self.calls += 1
            if self.calls == 1:
                return LLMResponse(
                    tool_calls=[
                        ToolCall(id="c1", name="lookup", arguments={"id": 1}),
                        ToolCall(id="c2", name="refund", arguments={"id": 1}),
                    ],
                    usage=Usage(prompt_tokens=7, completion_tokens=3),
                )
            return LLMResponse(output={"answer": "ok"}, model="m-2024")

    limits = AgentLimits(max_steps=3, timeout_s=1, default_confidence=0.5)
    tracer = tracing.state.tracer
    assert tracer is not None
    with tracer.start_as_current_span("attempt") as attempt:
        await run_agent(make_request(model="m"), TwoSteps(), limits, "acme", tools, toolbox)
    finished = spans.get_finished_spans()
    assert [s.name for s in named(finished, "chat m")] == ["chat m", "chat m"]
    lookup, refund = one(finished, "execute_tool lookup"), one(finished, "execute_tool refund")
    for span in (lookup, refund, *named(finished, "chat m")):
        assert parent_of(span) == attempt.get_span_context().span_id
    assert lookup.attributes is not None
    assert refund.attributes is not None
    assert lookup.attributes[names.GEN_AI_TOOL_NAME] == "lookup"
    assert lookup.attributes[names.GEN_AI_TOOL_CALL_ID] == "c1"
    assert lookup.attributes[names.TOOL_SERVER] == "shop"
    assert names.GEN_AI_TOOL_ARGUMENTS not in lookup.attributes
    assert refund.attributes[names.ERROR_TYPE] == "tool_error"
    first, second = named(finished, "chat m")
    assert first.attributes is not None
    assert second.attributes is not None
    assert first.attributes[names.GEN_AI_INPUT_TOKENS] == 7
    assert second.attributes[names.GEN_AI_RESPONSE_MODEL] == "m-2024"


async def test_judge_continues_the_results_trace_and_commits_inside_it(
    tmp_path: Path, fake_redis: aioredis.Redis, keyspace: Keyspace, spans: InMemorySpanExporter
) -> None:
    stack = stack_for(tmp_path, fake_redis, keyspace)
    [task] = await stack.planner().submit([Submission("acme", "echo", {"text": "x"})])
    result = make_result(task=task, confidence=0.95, output={"echo": "x"})
    worker_span = "00-" + task.trace_id + "-00000000000000aa-01"
    delivery = Delivery("acme", "1-0", result, traceparent=worker_span)
    verdicts = await stack.judge().judge([delivery])
    assert [o for _, o in verdicts.items] == [CommitOutcome.COMMITTED]
    finished = spans.get_finished_spans()
    judged, commit = one(finished, "process results"), one(finished, "commit")
    assert judged.context.trace_id == int(task.trace_id, 16)
    assert parent_of(judged) == 0xAA
    assert judged.kind is SpanKind.CONSUMER
    assert parent_of(commit) == judged.context.span_id
    assert judged.attributes is not None
    assert commit.attributes is not None
    assert judged.attributes[names.VERDICT] == "approve"
    assert judged.attributes[names.CONFIDENCE] == 0.95
    assert judged.attributes[names.POLICY] == "threshold"
    assert commit.attributes[names.COMMIT_OUTCOME] == "committed"


async def test_a_judge_retry_hands_on_the_judges_span(
    tmp_path: Path, fake_redis: aioredis.Redis, keyspace: Keyspace, spans: InMemorySpanExporter
) -> None:
    judge_settings = {
        "policy": "threshold",
        "approve_at": 0.8,
        "review_at": 0.5,
        "on_deny": "retry",
    }
    swarm = write_swarm(tmp_path, judge=judge_settings)
    stack = Stack(swarm, fake_redis, keyspace, {"fake": FakeBackend()})
    [task] = await stack.planner().submit([Submission("acme", "echo", {"text": "x"})])
    delivery = Delivery("acme", "1-0", make_result(task=task, confidence=0.1, output={"echo": "x"}))
    judge = stack.judge()
    seen: list[Judged] = []
    judge.on_outcome = lambda item, outcome: seen.append(item)
    verdicts = await judge.judge([delivery])
    assert [o for _, o in verdicts.items] == [CommitOutcome.RETRIED]
    span = one(spans.get_finished_spans(), "process results")
    # The next attempt's entry is written with the Judge's span as its parent.
    assert seen[0].delivery.traceparent == traceparent(span)


async def test_nothing_is_traced_while_tracing_is_off(
    tmp_path: Path, fake_redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    assert not tracing.active()
    stack = stack_for(tmp_path, fake_redis, keyspace)
    [task] = await stack.planner().submit([Submission("acme", "echo", {"text": "x"})])
    [(_, fields)] = await fake_redis.xrange(stack.keys().tasks)
    assert fields["traceparent"] == ""
    assert task.trace_id  # still a trace id for logs and audit events


@pytest.mark.parametrize(
    "value",
    [
        "",
        None,
        "00-zz-11-01",
        f"00-{'0' * 32}-{'b' * 16}-01",  # an all-zero trace id is invalid
        f"00-{'a' * 32}-{'0' * 16}-01",
        f"00-0x{'a' * 30}-{'b' * 16}-01",
        f"00-{'A' * 32}-{'b' * 16}-01",  # upper case is not W3C
        f"00-{'a' * 32}-{'b' * 16}-01-extra",
    ],
)
def test_a_bad_traceparent_starts_a_new_trace(value: str | None) -> None:
    assert tracing.extract(value) is None


def test_a_good_traceparent_is_continued_with_its_flags() -> None:
    for flags, sampled in (("01", True), ("00", False), ("03", True)):
        context = tracing.extract(f"00-{'a' * 32}-{'b' * 16}-{flags}")
        assert context is not None
        parent = trace.get_current_span(context).get_span_context()
        assert (parent.trace_id, parent.span_id) == (int("a" * 32, 16), int("b" * 16, 16))
        assert parent.is_remote
        assert parent.trace_flags.sampled is sampled
    assert tracing.unsampled(f"00-{'a' * 32}-{'b' * 16}-00")
    assert not tracing.unsampled(f"00-{'a' * 32}-{'b' * 16}-01")
    assert not tracing.unsampled(None)
    # Another version goes through the propagator, which accepts what the W3C rules allow.
    assert tracing.extract(f"01-{'a' * 32}-{'b' * 16}-01") is not None
