"""The pure rules of the ``openai`` backend: fences, confidence, Retry-After, names."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from chimera_swarm_openai.parsing import (
    OutputError,
    logprob_confidence,
    parse_object,
    retry_after,
    schema_name,
    server_message,
    take_self_reported,
    token_count,
)

NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("skill", "name"),
    [
        ("answer", "answer"),
        ("summarise.v2", "summarise_v2"),
        ("a" * 80, "a" * 64),
        ("", "output"),
    ],
)
def test_schema_name_fits_openai_rules(skill: str, name: str) -> None:
    assert schema_name(skill) == name


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": " 0.25 "}, 0.25),
        ({"retry-after": "-4"}, 0.0),
        ({"retry-after": "Wed, 01 Jan 2025 12:00:30 GMT"}, 30.0),
        ({"retry-after": "Wed, 01 Jan 2025 11:59:00 GMT"}, 0.0),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after-ms": "soon", "retry-after": "9"}, 9.0),
        ({"retry-after": "whenever"}, None),
        ({"retry-after": "inf"}, None),
        ({}, None),
    ],
)
def test_retry_after_reads_seconds_dates_and_milliseconds(
    headers: dict[str, str], seconds: float | None
) -> None:
    assert retry_after(headers, NOW) == seconds


def test_parse_object_rejects_infinity_and_says_what_it_got() -> None:
    with pytest.raises(OutputError, match="not valid JSON"):
        parse_object('{"x": Infinity}')
    with pytest.raises(OutputError, match="JSON number, not an object"):
        parse_object("4")
    with pytest.raises(OutputError, match="JSON null, not an object"):
        parse_object("null")
    assert parse_object('  {"a": [1, {"b": null}]}\n') == {"a": [1, {"b": None}]}


def test_logprob_confidence_skips_unusable_tokens() -> None:
    choice = {
        "logprobs": {
            "content": [
                {"logprob": -1.0},
                {"logprob": None},
                {"logprob": True},
                {"token": "x"},
                "junk",
                {"logprob": -3.0},
            ]
        }
    }
    assert logprob_confidence(choice) == pytest.approx(math.exp(-2.0))
    assert logprob_confidence({"logprobs": {"content": []}}) is None
    assert logprob_confidence({"logprobs": None}) is None
    assert logprob_confidence({}) is None


def test_take_self_reported_only_takes_numbers_in_range() -> None:
    output = {"answer": "x", "confidence": 0}
    assert take_self_reported(output, "confidence", {}) == 0.0
    assert output == {"answer": "x"}
    output = {"answer": "x"}
    assert take_self_reported(output, "confidence", {}) is None
    assert output == {"answer": "x"}


def test_server_message_and_token_count_tolerate_any_shape() -> None:
    assert server_message({"error": {"message": "bad"}}) == "bad"
    assert server_message({"error": "flat"}) == "flat"
    assert server_message({"detail": "fastapi style"}) == "fastapi style"
    assert server_message(["?"]) == ""
    assert token_count({"prompt_tokens": 3}, "prompt_tokens") == 3
    assert token_count({"prompt_tokens": -3}, "prompt_tokens") == 0
    assert token_count({"prompt_tokens": "3"}, "prompt_tokens") == 0
    assert token_count(None, "prompt_tokens") == 0
