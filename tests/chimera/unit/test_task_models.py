"""Task and the shared value types: strictness, limits, ids, trace context, JSON round trip."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from ulid import ULID

from chimera.models.task import Task
from chimera.models.types import (
    MAX_PAYLOAD_BYTES,
    SAFE_ID_PATTERN,
    check_payload_size,
    is_safe_id,
    new_id,
    new_trace_id,
    utc_now,
)


def make_task(**overrides: Any) -> Task:
    fields: dict[str, Any] = {
        "tenant": "acme",
        "session": "s-1",
        "skill": "summarise",
        "input": {"message": "hello"},
    }
    fields.update(overrides)
    return Task(**fields)


def error_types(exc: pytest.ExceptionInfo[ValidationError]) -> set[str]:
    return {err["type"] for err in exc.value.errors()}


# --- construction and defaults ---------------------------------------------------------


def test_defaults_are_filled_in() -> None:
    before = utc_now()
    task = make_task()
    after = utc_now()
    assert task.attempt == 1
    assert task.max_attempts == 3
    assert task.feedback is None
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{26}", task.id)
    assert re.fullmatch(r"[0-9a-f]{32}", task.trace_id)
    assert task.created_at.tzinfo is not None
    assert before <= task.created_at <= after


def test_each_task_gets_its_own_id_and_trace() -> None:
    first, second = make_task(), make_task()
    assert first.id != second.id
    assert first.trace_id != second.trace_id


def test_unknown_field_is_rejected() -> None:
    with pytest.raises(ValidationError) as exc:
        make_task(priority=5)
    assert error_types(exc) == {"extra_forbidden"}
    assert exc.value.errors()[0]["loc"] == ("priority",)


@pytest.mark.parametrize("field", ["tenant", "session", "skill", "input"])
def test_required_fields(field: str) -> None:
    fields = {"tenant": "acme", "session": "s", "skill": "k", "input": {}}
    del fields[field]
    with pytest.raises(ValidationError) as exc:
        Task(**fields)
    assert exc.value.errors()[0]["loc"] == (field,)
    assert error_types(exc) == {"missing"}


# --- safe ids --------------------------------------------------------------------------

BAD_IDS = [
    pytest.param("a{b}", id="hash-tag-braces"),
    pytest.param("a:b", id="colon"),
    pytest.param("", id="empty"),
    pytest.param("a" * 65, id="65-chars"),
    pytest.param("-abc", id="leading-dash"),
    pytest.param("_abc", id="leading-underscore"),
    pytest.param(".abc", id="leading-dot"),
    pytest.param("a b", id="space"),
    pytest.param("a/b", id="slash"),
    pytest.param("abc\n", id="trailing-newline"),
    pytest.param("caf\u00e9", id="non-ascii"),
]
GOOD_IDS = ["a", "A", "0", "acme", "acme-corp_1.eu", "a" * 64, "9lives"]


@pytest.mark.parametrize("field", ["tenant", "session", "skill"])
@pytest.mark.parametrize("value", BAD_IDS)
def test_unsafe_ids_are_rejected(field: str, value: str) -> None:
    with pytest.raises(ValidationError) as exc:
        make_task(**{field: value})
    assert exc.value.errors()[0]["loc"] == (field,)
    assert error_types(exc) == {"string_pattern_mismatch"}


@pytest.mark.parametrize("field", ["tenant", "session", "skill"])
@pytest.mark.parametrize("value", GOOD_IDS)
def test_safe_ids_are_accepted(field: str, value: str) -> None:
    assert getattr(make_task(**{field: value}), field) == value


@pytest.mark.parametrize("value", [p.values[0] for p in BAD_IDS])
def test_is_safe_id_agrees_with_the_model_on_bad_ids(value: str) -> None:
    assert not is_safe_id(value)


@pytest.mark.parametrize("value", GOOD_IDS)
def test_is_safe_id_accepts_good_ids(value: str) -> None:
    assert is_safe_id(value)


@settings(max_examples=50)
@given(st.text(max_size=70))
def test_is_safe_id_matches_pydantic_validation(value: str) -> None:
    try:
        make_task(tenant=value)
    except ValidationError:
        accepted = False
    else:
        accepted = True
    assert is_safe_id(value) is accepted


def test_safe_id_pattern_is_anchored() -> None:
    assert SAFE_ID_PATTERN.startswith("^")
    assert SAFE_ID_PATTERN.endswith("$")


@pytest.mark.parametrize(
    "value",
    ["0" * 25, "0" * 27, "01ARZ3NDEKTSV4RRFFQ69G5FAI", "01arz3ndektsv4rrffq69g5fav", "x"],
)
def test_bad_task_id_is_rejected(value: str) -> None:
    with pytest.raises(ValidationError) as exc:
        make_task(id=value)
    assert exc.value.errors()[0]["loc"] == ("id",)


@pytest.mark.parametrize("value", ["A" * 32, "0" * 31, "g" * 32, "0" * 33])
def test_bad_trace_id_is_rejected(value: str) -> None:
    with pytest.raises(ValidationError) as exc:
        make_task(trace_id=value)
    assert exc.value.errors()[0]["loc"] == ("trace_id",)


# --- attempts --------------------------------------------------------------------------


def test_attempt_above_max_attempts_is_rejected() -> None:
    with pytest.raises(ValidationError, match="attempt 4 exceeds max_attempts 3"):
        make_task(attempt=4, max_attempts=3)


def test_attempt_equal_to_max_attempts_is_fine() -> None:
    assert make_task(attempt=3, max_attempts=3).attempt == 3


@pytest.mark.parametrize(("field", "value"), [("attempt", 0), ("max_attempts", 0), ("attempt", -1)])
def test_attempt_counters_must_be_positive(field: str, value: int) -> None:
    with pytest.raises(ValidationError) as exc:
        make_task(**{field: value})
    assert exc.value.errors()[0]["loc"] == (field,)
    assert error_types(exc) == {"greater_than_equal"}


def test_next_attempt_keeps_identity_and_bumps_attempt() -> None:
    task = make_task(max_attempts=3)
    again = task.next_attempt("too vague")
    assert again.attempt == 2
    assert again.feedback == "too vague"
    assert (again.id, again.trace_id, again.created_at) == (task.id, task.trace_id, task.created_at)
    assert (again.tenant, again.session, again.skill, again.input) == (
        task.tenant,
        task.session,
        task.skill,
        task.input,
    )
    assert task.attempt == 1, "the original is unchanged"
    assert task.feedback is None


def test_next_attempt_without_feedback_clears_old_feedback() -> None:
    task = make_task().next_attempt("first try was wrong")
    assert task.next_attempt().feedback is None


def test_next_attempt_result_is_a_valid_task() -> None:
    again = make_task().next_attempt("x")
    assert Task.model_validate_json(again.model_dump_json()) == again


def test_next_attempt_beyond_budget_is_not_silently_accepted() -> None:
    """model_copy skips validation; the copy past the budget must not survive a round trip."""
    last = make_task(attempt=3, max_attempts=3)
    beyond = last.next_attempt()
    with pytest.raises(ValidationError, match="exceeds max_attempts"):
        Task.model_validate_json(beyond.model_dump_json())


# --- payload size ----------------------------------------------------------------------


def _payload_of_size(size: int) -> dict[str, str]:
    overhead = len(json.dumps({"k": ""}, separators=(",", ":")))
    return {"k": "x" * (size - overhead)}


def test_payload_at_the_limit_is_accepted() -> None:
    payload = _payload_of_size(MAX_PAYLOAD_BYTES)
    assert len(json.dumps(payload, separators=(",", ":")).encode()) == MAX_PAYLOAD_BYTES
    assert make_task(input=payload).input == payload


def test_payload_over_the_limit_is_rejected() -> None:
    with pytest.raises(ValidationError, match=f"the limit is {MAX_PAYLOAD_BYTES}") as exc:
        make_task(input=_payload_of_size(MAX_PAYLOAD_BYTES + 1))
    assert exc.value.errors()[0]["loc"] == ("input",)


def test_payload_size_counts_utf8_bytes_not_characters() -> None:
    # "é" is two bytes: half as many characters as the limit already exceed it.
    payload = {"k": "\u00e9" * (MAX_PAYLOAD_BYTES // 2)}
    assert len(json.dumps(payload, ensure_ascii=False)) < MAX_PAYLOAD_BYTES  # in characters
    with pytest.raises(ValidationError, match="payload is"):
        make_task(input=payload)


def test_check_payload_size_passes_small_values_and_none_through() -> None:
    value = {"a": [1, 2, {"b": None}]}
    assert check_payload_size(value) is value
    assert check_payload_size(None) is None


def test_input_must_be_a_json_object() -> None:
    for bad in ([1, 2], "text", 3):
        with pytest.raises(ValidationError):
            make_task(input=bad)


def test_input_values_must_be_json() -> None:
    with pytest.raises(ValidationError):
        make_task(input={"when": object()})


# --- frozen ----------------------------------------------------------------------------


@pytest.mark.parametrize(("field", "value"), [("attempt", 2), ("tenant", "other"), ("input", {})])
def test_task_is_frozen(field: str, value: Any) -> None:
    task = make_task()
    with pytest.raises(ValidationError) as exc:
        setattr(task, field, value)
    assert error_types(exc) == {"frozen_instance"}
    assert getattr(task, field) != value


# --- trace context ---------------------------------------------------------------------


def test_new_trace_id_format() -> None:
    ids = {new_trace_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) and i != "0" * 32 for i in ids)


# --- ids sort by time ------------------------------------------------------------------


def test_new_id_is_a_ulid() -> None:
    value = new_id()
    assert str(ULID.from_str(value)) == value


def test_new_id_sorts_by_creation_time() -> None:
    ids = []
    for _ in range(5):
        ids.append(new_id())
        time.sleep(0.002)  # ULIDs order by millisecond; within one they are random
    assert ids == sorted(ids)
    stamps = [ULID.from_str(i).timestamp for i in ids]
    assert stamps == sorted(stamps)
    assert stamps[0] < stamps[-1]


def test_new_id_embeds_the_current_time() -> None:
    before = time.time()
    stamp = ULID.from_str(new_id()).timestamp
    after = time.time()
    assert before - 0.001 <= stamp <= after + 0.001


def test_task_ids_sort_by_created_order() -> None:
    tasks = []
    for _ in range(3):
        tasks.append(make_task())
        time.sleep(0.002)
    assert [t.id for t in tasks] == sorted(t.id for t in tasks)


def test_utc_now_is_aware_utc() -> None:
    now = utc_now()
    assert now.utcoffset() == timedelta(0)
    assert abs(now - datetime.now(UTC)) < timedelta(seconds=5)


# --- JSON round trip (property based) --------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
safe_ids = st.from_regex(SAFE_ID_PATTERN, fullmatch=True)
ulids = st.builds(lambda raw: str(ULID(raw)), st.binary(min_size=16, max_size=16))
aware_datetimes = st.datetimes(
    min_value=datetime(1970, 1, 1),
    max_value=datetime(9000, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]),
)


@st.composite
def tasks(draw: st.DrawFn) -> Task:
    max_attempts = draw(st.integers(min_value=1, max_value=20))
    return Task(
        id=draw(ulids),
        tenant=draw(safe_ids),
        session=draw(safe_ids),
        skill=draw(safe_ids),
        input=draw(st.dictionaries(st.text(max_size=10), json_values, max_size=5)),
        attempt=draw(st.integers(min_value=1, max_value=max_attempts)),
        max_attempts=max_attempts,
        feedback=draw(st.none() | st.text(max_size=50)),
        trace_id=draw(st.from_regex(r"[0-9a-f]{32}", fullmatch=True)),
        created_at=draw(aware_datetimes),
    )


@settings(max_examples=50, deadline=None)
@given(tasks())
def test_json_round_trip_is_lossless(task: Task) -> None:
    text = task.model_dump_json()
    back = Task.model_validate_json(text)
    assert back == task
    assert back.model_dump_json() == text


@settings(max_examples=50, deadline=None)
@given(tasks())
def test_dict_round_trip_through_json_module(task: Task) -> None:
    """What a Redis stream field carries: plain JSON, parsed by any client."""
    as_json = json.loads(task.model_dump_json())
    assert set(as_json) == set(Task.model_fields)
    assert Task.model_validate(as_json) == task


def test_payloads_nested_too_deep_to_read_back_are_rejected() -> None:
    from chimera.models.types import MAX_PAYLOAD_DEPTH

    deep: dict[str, object] = {}
    cursor = deep
    for _ in range(MAX_PAYLOAD_DEPTH + 1):
        cursor["a"] = {}
        cursor = cursor["a"]  # type: ignore[assignment]
    with pytest.raises(ValidationError, match="nests deeper than 64 levels"):
        Task(tenant="acme", session="s", skill="k", input=deep)
    fine = {"a": [{"b": [1, 2, {"c": None}]}]}
    assert Task(tenant="acme", session="s", skill="k", input=fine).input == fine


def test_feedback_is_bounded_like_every_free_text() -> None:
    from chimera.models.types import MAX_TEXT_CHARS

    assert make_task(feedback="x" * MAX_TEXT_CHARS).feedback is not None
    with pytest.raises(ValidationError):
        make_task(feedback="x" * (MAX_TEXT_CHARS + 1))


def test_a_decision_quoting_a_huge_error_is_cut_not_refused() -> None:
    from chimera.models.decision import Decision, Verdict
    from chimera.models.types import MAX_TEXT_CHARS
    from chimera.testing import make_result

    decision = Decision.on(make_result(), Verdict.DENY, "because " + "x" * 50_000, "validation")
    assert len(decision.reason) == MAX_TEXT_CHARS
