"""Result, Decision, Thresholds, audit records and LLM messages: every invariant they hold."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from ulid import ULID

from chimera.models.audit import GENESIS_HASH, AuditEvent, AuditEventType, AuditRecord
from chimera.models.decision import Decision, Verdict
from chimera.models.llm import LLMRequest, LLMResponse, Message
from chimera.models.result import ErrorKind, Result, ResultStatus, Usage
from chimera.models.thresholds import Thresholds
from chimera.models.types import MAX_PAYLOAD_BYTES, SAFE_ID_PATTERN, new_id, new_trace_id

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


def succeeded(**overrides: Any) -> Result:
    fields: dict[str, Any] = {
        "task_id": new_id(),
        "tenant": "acme",
        "session": "s-1",
        "skill": "summarise",
        "attempt": 1,
        "status": ResultStatus.SUCCEEDED,
        "output": {"summary": "ok"},
        "confidence": 0.9,
        "worker": "w-1",
        "trace_id": new_trace_id(),
        "started_at": T0,
        "finished_at": T0 + timedelta(milliseconds=250),
    }
    fields.update(overrides)
    return Result(**fields)


def failed(**overrides: Any) -> Result:
    fields: dict[str, Any] = {
        "status": ResultStatus.FAILED,
        "output": None,
        "error": "backend timed out",
        "error_kind": ErrorKind.TIMEOUT,
        "confidence": 0.0,
    }
    fields.update(overrides)
    return succeeded(**fields)


# --- Result ----------------------------------------------------------------------------


def test_valid_results() -> None:
    ok = succeeded()
    assert ok.status is ResultStatus.SUCCEEDED
    assert ok.usage == Usage(prompt_tokens=0, completion_tokens=0)
    assert ok.latency_ms == pytest.approx(250.0)
    bad = failed()
    assert bad.status is ResultStatus.FAILED
    assert bad.output is None


@pytest.mark.parametrize("confidence", [0.0, 0.5, 1.0])
def test_confidence_bounds_are_inclusive(confidence: float) -> None:
    assert succeeded(confidence=confidence).confidence == confidence


@pytest.mark.parametrize("confidence", [-0.0001, 1.0001, -1, 2, float("nan"), float("inf")])
def test_confidence_outside_unit_interval_is_rejected(confidence: float) -> None:
    with pytest.raises(ValidationError) as exc:
        succeeded(confidence=confidence)
    assert exc.value.errors()[0]["loc"] == ("confidence",)


def test_succeeded_needs_an_output() -> None:
    with pytest.raises(ValidationError, match="a succeeded result needs an output"):
        succeeded(output=None)


def test_succeeded_with_empty_output_is_fine() -> None:
    assert succeeded(output={}).output == {}


@pytest.mark.parametrize(
    "extra",
    [{"error": "boom"}, {"error_kind": ErrorKind.BACKEND}, {"error": "x", "error_kind": "backend"}],
)
def test_succeeded_cannot_carry_an_error(extra: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="a succeeded result cannot carry an error"):
        succeeded(**extra)


@pytest.mark.parametrize(
    "missing", [{"error": None}, {"error_kind": None}, {"error": None, "error_kind": None}]
)
def test_failed_needs_error_and_error_kind(missing: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="a failed result needs an error and an error_kind"):
        failed(**missing)


def test_failed_cannot_carry_an_output() -> None:
    with pytest.raises(ValidationError, match="a failed result cannot carry an output"):
        failed(output={"summary": "half"})


def test_finished_before_started_is_rejected() -> None:
    with pytest.raises(ValidationError, match="finished_at is before started_at"):
        succeeded(finished_at=T0 - timedelta(microseconds=1))


def test_finished_equal_to_started_is_fine() -> None:
    result = succeeded(finished_at=T0)
    assert result.latency_ms == 0.0


def test_result_rejects_unknown_fields_and_is_frozen() -> None:
    with pytest.raises(ValidationError) as exc:
        succeeded(cost=1)
    assert exc.value.errors()[0]["type"] == "extra_forbidden"
    result = succeeded()
    with pytest.raises(ValidationError):
        result.confidence = 0.1  # type: ignore[misc]
    assert result.confidence == 0.9


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("tenant", "a{b}"),
        ("session", "a:b"),
        ("skill", ""),
        ("task_id", "not-a-ulid"),
        ("trace_id", "XYZ"),
        ("attempt", 0),
        ("worker", ""),
        ("status", "done"),
        ("error_kind", "cosmic_ray"),
    ],
)
def test_result_field_constraints(field: str, value: Any) -> None:
    with pytest.raises(ValidationError) as exc:
        failed(**{field: value})
    assert field in {err["loc"][0] for err in exc.value.errors()}


def test_result_output_obeys_the_payload_limit() -> None:
    with pytest.raises(ValidationError, match="the limit is"):
        succeeded(output={"k": "x" * MAX_PAYLOAD_BYTES})


@pytest.mark.parametrize("usage", [{"prompt_tokens": -1}, {"completion_tokens": -5}, {"total": 3}])
def test_usage_constraints(usage: dict[str, int]) -> None:
    with pytest.raises(ValidationError):
        Usage(**usage)


def test_error_kind_retryable_set() -> None:
    # Transient failures, and an output that broke the schema (an LLM may do better next
    # time), are retried; input that breaks the skill's schema never gets better, and an
    # agent that used up its steps fails for good.
    assert {kind for kind in ErrorKind if kind.retryable} == {
        ErrorKind.TIMEOUT,
        ErrorKind.BACKEND,
        ErrorKind.RATE_LIMIT,
        ErrorKind.TOOL,
        ErrorKind.INVALID_OUTPUT,
    }
    assert not ErrorKind.INVALID_INPUT.retryable
    assert not ErrorKind.MAX_STEPS.retryable


def test_error_kinds_are_their_wire_strings() -> None:
    assert {k.value for k in ErrorKind} == {
        "timeout",
        "backend",
        "rate_limit",
        "invalid_input",
        "invalid_output",
        "tool",
        "max_steps",
        "config",
    }
    assert ErrorKind("rate_limit") is ErrorKind.RATE_LIMIT


# --- Result JSON round trip (property based) --------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
safe_ids = st.from_regex(SAFE_ID_PATTERN, fullmatch=True)
instants = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(9000, 1, 1), timezones=st.just(UTC)
)


@st.composite
def results(draw: st.DrawFn) -> Result:
    status = draw(st.sampled_from(ResultStatus))
    started = draw(instants)
    elapsed = draw(st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=2)))
    ok = status is ResultStatus.SUCCEEDED
    return Result(
        task_id=str(ULID(draw(st.binary(min_size=16, max_size=16)))),
        tenant=draw(safe_ids),
        session=draw(safe_ids),
        skill=draw(safe_ids),
        attempt=draw(st.integers(min_value=1, max_value=100)),
        status=status,
        output=draw(st.dictionaries(st.text(max_size=8), json_values, max_size=5)) if ok else None,
        error=None if ok else draw(st.text(max_size=40)),
        error_kind=None if ok else draw(st.sampled_from(ErrorKind)),
        confidence=draw(st.floats(min_value=0.0, max_value=1.0)),
        usage=Usage(
            prompt_tokens=draw(st.integers(min_value=0, max_value=10**9)),
            completion_tokens=draw(st.integers(min_value=0, max_value=10**9)),
        ),
        worker=draw(st.text(min_size=1, max_size=20)),
        trace_id=draw(st.from_regex(r"[0-9a-f]{32}", fullmatch=True)),
        started_at=started,
        finished_at=started + elapsed,
    )


@settings(max_examples=50, deadline=None)
@given(results())
def test_result_json_round_trip_is_lossless(result: Result) -> None:
    text = result.model_dump_json()
    back = Result.model_validate_json(text)
    assert back == result
    assert back.model_dump_json() == text
    assert back.latency_ms == result.latency_ms


@settings(max_examples=50, deadline=None)
@given(results())
def test_result_json_is_plain_json(result: Result) -> None:
    data = json.loads(result.model_dump_json())
    assert data["status"] in {"succeeded", "failed"}
    assert Result.model_validate(data) == result


# --- Thresholds ------------------------------------------------------------------------


@pytest.mark.parametrize(("approve", "review"), [(0.8, 0.5), (0.5, 0.5), (1.0, 0.0), (0, 0)])
def test_ordered_thresholds_are_accepted(approve: float, review: float) -> None:
    thresholds = Thresholds(approve_at=approve, review_at=review)
    assert (thresholds.approve_at, thresholds.review_at) == (approve, review)


def test_review_above_approve_is_rejected() -> None:
    with pytest.raises(ValidationError, match=r"review_at \(0\.6\) must not be above approve_at"):
        Thresholds(approve_at=0.5, review_at=0.6)


@pytest.mark.parametrize(
    "fields",
    [
        {"approve_at": 1.1, "review_at": 0.5},
        {"approve_at": 0.8, "review_at": -0.1},
        {"approve_at": 0.8},
        {"approve_at": 0.8, "review_at": 0.5, "deny_at": 0.1},
    ],
)
def test_threshold_field_constraints(fields: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        Thresholds(**fields)


@settings(max_examples=50)
@given(st.floats(0, 1), st.floats(0, 1))
def test_thresholds_accept_exactly_the_ordered_pairs(a: float, b: float) -> None:
    try:
        Thresholds(approve_at=a, review_at=b)
    except ValidationError:
        assert b > a
    else:
        assert b <= a


# --- Decision --------------------------------------------------------------------------


def decision(**overrides: Any) -> Decision:
    fields: dict[str, Any] = {
        "task_id": new_id(),
        "tenant": "acme",
        "session": "s-1",
        "skill": "summarise",
        "verdict": "approve",
        "reason": "confidence 0.9 >= 0.8",
        "policy": "threshold",
        "confidence": 0.9,
    }
    fields.update(overrides)
    return Decision(**fields)


def test_decision_defaults_and_round_trip() -> None:
    made = decision(thresholds=Thresholds(approve_at=0.8, review_at=0.5))
    assert made.verdict is Verdict.APPROVE
    assert made.retry is False
    assert made.actor == "judge"
    assert made.decided_at.tzinfo is not None
    assert Decision.model_validate_json(made.model_dump_json()) == made


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("confidence", 1.5),
        ("confidence", -0.5),
        ("verdict", "maybe"),
        ("tenant", "a:b"),
        ("task_id", "123"),
        ("thresholds", {"approve_at": 0.2, "review_at": 0.9}),
        ("unexpected", True),
    ],
)
def test_decision_constraints(field: str, value: Any) -> None:
    with pytest.raises(ValidationError):
        decision(**{field: value})


def test_decision_is_frozen() -> None:
    made = decision()
    with pytest.raises(ValidationError):
        made.verdict = Verdict.DENY  # type: ignore[misc]
    assert made.verdict is Verdict.APPROVE


# --- AuditRecord -----------------------------------------------------------------------


def event(**overrides: Any) -> AuditEvent:
    fields: dict[str, Any] = {
        "type": AuditEventType.COMMITTED,
        "tenant": "acme",
        "session": "s-1",
        "task_id": new_id(),
        "at": T0,
        "data": {"confidence": 0.9, "nested": {"k": [1, 2]}},
    }
    fields.update(overrides)
    return AuditEvent(**fields)


def chain(events: list[AuditEvent]) -> list[AuditRecord]:
    records = []
    prev = GENESIS_HASH
    for seq, item in enumerate(events, start=1):
        digest = AuditRecord.digest(prev, seq, item.model_dump_json())
        records.append(AuditRecord(seq=seq, prev=prev, hash=digest, event=item))
        prev = digest
    return records


def test_genesis_hash() -> None:
    assert GENESIS_HASH == "0" * 64


def test_digest_is_deterministic_sha256() -> None:
    item = event()
    first = AuditRecord.digest(GENESIS_HASH, 1, item.model_dump_json())
    assert first == AuditRecord.digest(GENESIS_HASH, 1, item.model_dump_json())
    assert len(first) == 64
    assert int(first, 16) >= 0


def test_digest_covers_the_event_exactly_as_stored() -> None:
    item = event()
    compact = item.model_dump_json()
    reordered = json.dumps(dict(reversed(list(json.loads(compact).items()))), indent=2)
    assert reordered != compact
    # A record is its stored bytes: spelt otherwise, it is another record...
    assert AuditRecord.digest("p", 1, reordered) != AuditRecord.digest("p", 1, compact)
    # ...and a verifier hashes what it read, not a re-serialisation of it.
    record = AuditRecord(
        seq=1,
        prev="p",
        hash=AuditRecord.digest("p", 1, reordered),
        event=AuditEvent.model_validate_json(reordered),
    )
    assert record.verify("p", reordered)
    assert not record.verify("p")


def test_digest_depends_on_prev_seq_and_event() -> None:
    item = event()
    body = item.model_dump_json()
    base = AuditRecord.digest(GENESIS_HASH, 1, body)
    assert AuditRecord.digest("1" * 64, 1, body) != base
    assert AuditRecord.digest(GENESIS_HASH, 2, body) != base
    other = event(task_id=item.task_id, data={"confidence": 0.91, "nested": {"k": [1, 2]}})
    assert AuditRecord.digest(GENESIS_HASH, 1, other.model_dump_json()) != base


def test_an_intact_chain_verifies() -> None:
    records = chain([event(type=t) for t in AuditEventType])
    prev = GENESIS_HASH
    for record in records:
        assert record.verify(prev)
        prev = record.hash


def test_a_changed_event_breaks_its_record() -> None:
    records = chain([event(), event(), event()])
    tampered_event = records[1].event.model_copy(update={"actor": "mallory"})
    tampered = records[1].model_copy(update={"event": tampered_event})
    assert not tampered.verify(records[0].hash)


def test_a_changed_nested_data_value_breaks_its_record() -> None:
    [record] = chain([event()])
    data = {"confidence": 0.9, "nested": {"k": [1, 3]}}
    tampered = record.model_copy(update={"event": record.event.model_copy(update={"data": data})})
    assert not tampered.verify(GENESIS_HASH)


def test_a_wrong_prev_fails_verification() -> None:
    first, second = chain([event(), event()])
    assert second.verify(first.hash)
    assert not second.verify(GENESIS_HASH)
    assert not second.verify("f" * 64)


def test_a_record_with_a_forged_prev_fails() -> None:
    first, second = chain([event(), event()])
    forged = second.model_copy(update={"prev": "f" * 64})
    assert not forged.verify(first.hash)
    assert not forged.verify("f" * 64), "the hash no longer matches the claimed prev"


def test_reordered_records_fail() -> None:
    first, second, third = chain([event(), event(), event()])
    # Drop the second: the third no longer links to the first.
    assert not third.verify(first.hash)
    # Swap seq numbers: the hash covers seq.
    renumbered = third.model_copy(update={"seq": 2})
    assert not renumbered.verify(second.hash)


def test_record_survives_json_round_trip_and_still_verifies() -> None:
    first, second = chain([event(), event(type=AuditEventType.HUMAN_DECISION, actor="ops")])
    back = AuditRecord.model_validate_json(second.model_dump_json())
    assert back == second
    assert back.verify(first.hash)


def test_audit_models_are_strict() -> None:
    with pytest.raises(ValidationError):
        event(type="teleported")
    with pytest.raises(ValidationError):
        event(tenant="a{b}")
    with pytest.raises(ValidationError):
        event(colour="red")
    with pytest.raises(ValidationError):
        AuditRecord(seq=0, prev=GENESIS_HASH, hash="x", event=event())


# --- LLM request and response ----------------------------------------------------------


def test_llm_request_defaults() -> None:
    request = LLMRequest(skill="s", messages=[Message.user("p")], output_schema={"type": "object"})
    assert request.options == {}
    assert request.input == {}
    assert request.attempt == 1
    assert request.model is None


@pytest.mark.parametrize(
    "fields",
    [
        {"attempt": 0},
        {"temperature": 0.2},
        {"input": {"k": "x" * MAX_PAYLOAD_BYTES}},
        {"output_schema": "object"},
    ],
)
def test_llm_request_constraints(fields: dict[str, Any]) -> None:
    base: dict[str, Any] = {
        "skill": "s",
        "messages": [Message.user("p")],
        "output_schema": {"type": "object"},
    }
    base.update(fields)
    with pytest.raises(ValidationError):
        LLMRequest(**base)


@pytest.mark.parametrize("confidence", [None, 0.0, 0.42, 1.0])
def test_llm_response_confidence_may_be_unknown(confidence: float | None) -> None:
    response = LLMResponse(output={"a": 1}, confidence=confidence)
    assert response.confidence == confidence
    assert LLMResponse.model_validate_json(response.model_dump_json()) == response


@pytest.mark.parametrize(
    "fields",
    [
        {"output": {"a": 1}, "confidence": 1.01},
        {"output": {"a": 1}, "confidence": -0.01},
        {"output": None},
        {"output": {"a": 1}, "usage": {"prompt_tokens": -1}},
        {"output": {"a": 1}, "cost": 3},
        {"output": {"k": "x" * MAX_PAYLOAD_BYTES}},
    ],
)
def test_llm_response_constraints(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        LLMResponse(**fields)
