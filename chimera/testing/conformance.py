"""Conformance suites: subclass one, provide the fixture, and pytest runs the contract tests.

Each suite checks what chimera relies on, whatever the implementation: the object has a
``name``; its method is a coroutine; it returns the right type; it is deterministic where
chimera replays it; it fails loudly rather than silently.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from chimera.models.audit import AuditEventType
from chimera.models.decision import Decision, Verdict
from chimera.models.llm import LLMResponse
from chimera.testing.builders import (
    continue_with_tool_results,
    make_event,
    make_policy_input,
    make_request,
    make_result,
    make_tool_request,
)


class BackendConformance:
    """Contract of an LLM backend. Provide a ``backend`` fixture answering ``make_request()``.

    Override ``request_for_backend`` to give the request your backend can answer (for example one
    matching what your fake server returns). A backend registered with ``tools=True`` also
    overrides ``backend_calls_tools`` to return ``True``; it must then answer
    ``tool_request_for_backend`` (default :func:`make_tool_request`) with calls to the
    offered tools, and the follow-up carrying their results (one of them an error) with an
    answer or further calls.
    """

    @pytest.fixture
    def request_for_backend(self) -> Any:
        """The request sent in the checks; override to fit your backend."""
        return make_request()

    @pytest.fixture
    def backend_calls_tools(self) -> bool:
        """Whether the backend is registered with ``tools=True``; override to say so."""
        return False

    @pytest.fixture
    def tool_request_for_backend(self) -> Any:
        """A request offering tools, which the backend answers with tool calls."""
        return make_tool_request()

    def test_backend_has_a_name(self, backend: Any) -> None:
        """Skills name backends; the object must say which one it is."""
        assert isinstance(backend.name, str)
        assert backend.name

    def test_complete_is_a_coroutine(self, backend: Any) -> None:
        """A Worker awaits hundreds of calls on one loop: ``complete`` must be async."""
        assert inspect.iscoroutinefunction(backend.complete)

    async def test_complete_returns_a_valid_response(
        self, backend: Any, request_for_backend: Any
    ) -> None:
        """The answer is an LLMResponse whose output fits the requested schema."""
        from chimera.config.swarm import compile_validator

        response = await backend.complete(request_for_backend)
        assert isinstance(response, LLMResponse)
        validator = compile_validator(request_for_backend.output_schema)
        assert list(validator.iter_errors(response.output)) == []
        assert response.confidence is None or 0.0 <= response.confidence <= 1.0

    async def test_tool_calls_name_offered_tools(
        self, backend: Any, backend_calls_tools: bool, tool_request_for_backend: Any
    ) -> None:
        """Offered tools, a tool-calling backend asks for calls the Worker can make.

        Each call names an offered tool, has an id no other call of the answer has (tool
        results are matched to calls by id), and JSON-object arguments, or says why its
        arguments could not be read.
        """
        if not backend_calls_tools:
            pytest.skip("the backend is not registered with tools=True")
        response = await backend.complete(tool_request_for_backend)
        assert isinstance(response, LLMResponse)
        assert response.tool_calls, "tool_request_for_backend was answered without tool calls"
        assert response.output is None
        _check_calls(response, tool_request_for_backend)

    async def test_tool_results_lead_to_an_answer_or_more_calls(
        self, backend: Any, backend_calls_tools: bool, tool_request_for_backend: Any
    ) -> None:
        """Handed the tools' results, one of them an error, the backend carries on.

        The conversation it is sent holds its own tool calls and a ``tool`` message for
        each; it answers with an output valid for the schema, or with further calls.
        """
        from chimera.config.swarm import compile_validator

        if not backend_calls_tools:
            pytest.skip("the backend is not registered with tools=True")
        first = await backend.complete(tool_request_for_backend)
        assert first.tool_calls, "tool_request_for_backend was answered without tool calls"
        follow_up = continue_with_tool_results(
            tool_request_for_backend, first, errors=[first.tool_calls[0].id]
        )
        response = await backend.complete(follow_up)
        assert isinstance(response, LLMResponse)
        if response.output is not None:
            validator = compile_validator(follow_up.output_schema)
            assert list(validator.iter_errors(response.output)) == []
        else:
            _check_calls(response, follow_up)


class PolicyConformance:
    """Contract of a Judge policy. Provide a ``policy`` fixture.

    Override ``policy_options`` to pass the ``judge.options`` your policy needs.
    """

    @pytest.fixture
    def policy_options(self) -> dict[str, Any]:
        """``judge.options`` given to the policy in every check."""
        return {}

    def test_policy_has_a_name(self, policy: Any) -> None:
        """swarm.yaml names policies; the object must say which one it is."""
        assert isinstance(policy.name, str)
        assert policy.name

    def test_decide_is_a_coroutine(self, policy: Any) -> None:
        """``decide`` must be async."""
        assert inspect.iscoroutinefunction(policy.decide)

    @pytest.mark.parametrize("confidence", [0.0, 0.3, 0.5, 0.79, 0.8, 1.0])
    async def test_decision_answers_the_result(
        self, policy: Any, policy_options: dict[str, Any], confidence: float
    ) -> None:
        """The decision names the same task, tenant, session and skill, with a verdict."""
        item = make_policy_input(
            make_result(confidence=confidence), options=policy_options, policy=policy.name
        )
        decision = await policy.decide(item)
        assert isinstance(decision, Decision)
        assert decision.task_id == item.result.task_id
        assert decision.tenant == item.result.tenant
        assert decision.session == item.result.session
        assert decision.skill == item.result.skill
        assert decision.verdict in set(Verdict)
        assert decision.reason

    async def test_same_input_same_decision(
        self, policy: Any, policy_options: dict[str, Any]
    ) -> None:
        """Decisions are replayed in audits: the same input must decide the same way."""
        item = make_policy_input(options=policy_options, policy=policy.name)
        first, second = await policy.decide(item), await policy.decide(item)
        assert first.model_dump(exclude={"decided_at"}) == second.model_dump(exclude={"decided_at"})

    async def test_sensitive_results_are_never_approved(
        self, policy: Any, policy_options: dict[str, Any]
    ) -> None:
        """A sensitive skill's Result needs a human, however confident."""
        item = make_policy_input(
            make_result(confidence=1.0), sensitive=True, options=policy_options, policy=policy.name
        )
        assert (await policy.decide(item)).verdict is not Verdict.APPROVE


class SinkConformance:
    """Contract of an audit sink. Provide a ``sink`` fixture.

    Override ``stored`` to read back what your sink stored (as a list of event dicts or
    AuditEvents), so the suite can check order and completeness.
    """

    @pytest.fixture
    def stored(self) -> Any:
        """A callable returning what the sink stored; ``None`` skips the read-back check."""
        return None

    def test_sink_has_a_name(self, sink: Any) -> None:
        """swarm.yaml lists sinks by name; the object must say which one it is."""
        assert isinstance(sink.name, str)
        assert sink.name

    def test_write_is_a_coroutine(self, sink: Any) -> None:
        """``write`` must be async."""
        assert inspect.iscoroutinefunction(sink.write)

    async def test_write_accepts_a_batch_and_an_empty_batch(self, sink: Any, stored: Any) -> None:
        """Events of several kinds and tenants are stored in order; nothing is a no-op."""
        events = [
            make_event(AuditEventType.RESULT),
            make_event(AuditEventType.DECISION),
            make_event(AuditEventType.COMMITTED, tenant="globex"),
        ]
        await sink.write(events)
        await sink.write([])
        if stored is not None:
            kept = await _maybe_await(stored())
            ids = [_event_id(e) for e in kept]
            expected = [(e.type.value, e.tenant, e.task_id) for e in events]
            assert [i for i in ids if i in expected] == expected


def _check_calls(response: LLMResponse, request: Any) -> None:
    offered = {tool.name for tool in request.tools}
    ids = [call.id for call in response.tool_calls]
    assert len(set(ids)) == len(ids), f"tool call ids repeat: {ids}"
    for call in response.tool_calls:
        assert call.name in offered, f"{call.name!r} is not an offered tool ({sorted(offered)})"
        assert isinstance(call.arguments, dict)
        if call.arguments_error is not None:
            assert call.arguments == {}
            assert call.arguments_error


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _event_id(event: Any) -> tuple[str, str, str | None]:
    if isinstance(event, dict):
        return (str(event["type"]), str(event["tenant"]), event.get("task_id"))
    return (event.type.value, event.tenant, event.task_id)
