"""Structured logging: JSON lines, bound task context, and secrets that never reach a log."""

from __future__ import annotations

import collections
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from chimera.lib.logging import (
    REDACTED,
    bind_task_context,
    configure_logging,
    get_logger,
    redact_value,
)


@pytest.fixture(autouse=True)
def clean_structlog() -> Iterator[None]:
    structlog.contextvars.clear_contextvars()
    yield
    structlog.contextvars.clear_contextvars()
    structlog.reset_defaults()


@pytest.fixture
def stream() -> io.StringIO:
    out = io.StringIO()
    configure_logging(level="DEBUG", json=True, stream=out)
    return out


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def one(stream: io.StringIO) -> dict[str, Any]:
    [line] = lines(stream)
    return line


# --- output format ---------------------------------------------------------------------


def test_json_lines(stream: io.StringIO) -> None:
    log = get_logger("chimera.test")
    log.info("first", n=1)
    log.warning("second", items=[1, 2])
    first, second = lines(stream)
    assert first["event"] == "first"
    assert first["n"] == 1
    assert first["level"] == "info"
    assert first["timestamp"].endswith("Z")
    assert second["level"] == "warning"
    assert second["items"] == [1, 2]


def test_level_filters(stream: io.StringIO) -> None:
    configure_logging(level="warning", json=True, stream=stream)
    log = get_logger("chimera.test")
    log.info("hidden")
    log.debug("hidden too")
    log.error("shown")
    assert [line["event"] for line in lines(stream)] == ["shown"]


def test_console_format_when_not_json() -> None:
    out = io.StringIO()
    configure_logging(json=False, stream=out)
    get_logger("chimera.test").info("hello console", password="hunter2")
    text = out.getvalue()
    assert "hello console" in text
    assert "hunter2" not in text
    assert REDACTED in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


def test_json_is_the_default_for_a_non_terminal_stream() -> None:
    out = io.StringIO()
    configure_logging(stream=out)
    get_logger("chimera.test").info("auto")
    assert one(out)["event"] == "auto"


# --- bound context ---------------------------------------------------------------------


def test_bound_task_context_appears_on_every_line(stream: io.StringIO) -> None:
    bind_task_context(
        tenant="acme", session="s-1", task_id="01J0000000000000000000000A", trace_id="ab" * 16
    )
    log = get_logger("chimera.test")
    log.info("one")
    log.info("two")
    for line in lines(stream):
        assert line["tenant"] == "acme"
        assert line["session"] == "s-1"
        assert line["task_id"] == "01J0000000000000000000000A"
        assert line["trace_id"] == "ab" * 16


def test_bind_task_context_skips_none(stream: io.StringIO) -> None:
    bind_task_context(tenant="acme")
    get_logger("chimera.test").info("partial")
    line = one(stream)
    assert line["tenant"] == "acme"
    assert "session" not in line
    assert "task_id" not in line


def test_context_is_cleared_between_tests(stream: io.StringIO) -> None:
    get_logger("chimera.test").info("fresh")
    assert "tenant" not in one(stream)


def test_later_binding_replaces_earlier(stream: io.StringIO) -> None:
    bind_task_context(tenant="acme", task_id="A" * 26)
    bind_task_context(task_id="B" * 26)
    get_logger("chimera.test").info("rebound")
    line = one(stream)
    assert (line["tenant"], line["task_id"]) == ("acme", "B" * 26)


# --- redaction by key ------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "api_key",
        "apikey",
        "api-key",
        "openai_api_key",
        "X-Api-Key",
        "password",
        "db_password",
        "passwd",
        "token",
        "access_token",
        "refresh-token",
        "authorization",
        "Authorization",
        "secret",
        "client_secret",
        "credentials",
        "private_key",
        "cookie",
    ],
)
def test_secret_keys_are_redacted_at_top_level(stream: io.StringIO, key: str) -> None:
    get_logger("chimera.test").info("call", **{key: "s3cr3t-value"})
    line = one(stream)
    assert line[key] == REDACTED
    assert "s3cr3t-value" not in stream.getvalue()


def test_secret_keys_are_redacted_at_any_depth(stream: io.StringIO) -> None:
    get_logger("chimera.test").info(
        "config",
        config={
            "backend": {"name": "openai", "api_key": "k-1", "headers": {"Authorization": "h-1"}},
            "stores": [{"url": "redis://h", "password": "p-1"}, {"token": "t-1", "ok": True}],
            "deep": {"a": {"b": {"c": {"secret": "s-1"}}}},
        },
    )
    config = one(stream)["config"]
    assert config["backend"] == {
        "name": "openai",
        "api_key": REDACTED,
        "headers": {"Authorization": REDACTED},
    }
    assert config["stores"] == [
        {"url": "redis://h", "password": REDACTED},
        {"token": REDACTED, "ok": True},
    ]
    assert config["deep"]["a"]["b"]["c"]["secret"] == REDACTED
    for leaked in ("k-1", "h-1", "p-1", "t-1", "s-1"):
        assert leaked not in stream.getvalue()


def test_a_whole_secret_subtree_is_redacted(stream: io.StringIO) -> None:
    get_logger("chimera.test").info("x", credentials={"user": "u", "pass": "p"})
    assert one(stream)["credentials"] == REDACTED


@pytest.mark.parametrize("empty", [None, ""])
def test_empty_secret_values_stay_visible(stream: io.StringIO, empty: str | None) -> None:
    """An unset key is worth seeing in a log: it explains an authentication failure."""
    get_logger("chimera.test").info("x", api_key=empty)
    assert one(stream)["api_key"] == empty


@pytest.mark.parametrize(
    "key",
    [
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "max_tokens",
        "tokens",
        "tokenizer",
        "password_policy",
        "secretary",
        "keyspace",
        "task_id",
        "trace_id",
    ],
)
def test_harmless_keys_are_not_redacted(stream: io.StringIO, key: str) -> None:
    get_logger("chimera.test").info("x", **{key: 123})
    assert one(stream)[key] == 123


def test_usage_counts_survive(stream: io.StringIO) -> None:
    usage = {"prompt_tokens": 12, "completion_tokens": 34}
    get_logger("chimera.test").info("llm call", usage=usage, nested={"usage": usage})
    line = one(stream)
    assert line["usage"] == usage
    assert line["nested"] == {"usage": usage}


# --- redaction in free text ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "secret", "expected"),
    [
        (
            "sent Authorization: Bearer abc.DEF-123_xyz~",
            "abc.DEF-123_xyz~",
            f"sent Authorization: Bearer {REDACTED}",
        ),
        ("header bearer Zm9vYmFyYmF6cXV4", "Zm9vYmFyYmF6cXV4", f"header bearer {REDACTED}"),
        ("Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA==", f"Basic {REDACTED}"),
        ("using key sk-abcdefghijklmnop1234", "sk-abcdefghijklmnop1234", f"using key {REDACTED}"),
        ("key sk-proj-AbCdEf123456_-xyz here", "AbCdEf123456", f"key {REDACTED} here"),
        ("github ghp_0123456789abcdefABCDEF", "0123456789abcdef", f"github {REDACTED}"),
        (
            "connect redis://user:hunter2@cache:6379/0 failed",
            "hunter2",
            f"connect redis://user:{REDACTED}@cache:6379/0 failed",
        ),
        (
            "redis://:hunter2@cache:6379",
            "hunter2",
            f"redis://:{REDACTED}@cache:6379",
        ),
        (
            "GET https://api.example.com/v1?api_key=abc123&x=1",
            "abc123",
            f"GET https://api.example.com/v1?api_key={REDACTED}&x=1",
        ),
        ("password=letmein and more", "letmein", f"password={REDACTED} and more"),
    ],
)
def test_secrets_in_free_text_are_redacted(
    stream: io.StringIO, text: str, secret: str, expected: str
) -> None:
    get_logger("chimera.test").info(text, detail={"message": text}, items=[text])
    line = one(stream)
    assert line["event"] == expected
    assert line["detail"]["message"] == expected
    assert line["items"] == [expected]
    assert secret not in stream.getvalue()


@pytest.mark.parametrize(
    "text",
    [
        "prompt_tokens=120 completion_tokens=30",
        "task 01J0000000000000000000000A done",
        "redis://cache:6379/0",
        "https://example.com/path",
        "bearer of bad news",
        "ask-me-anything",
        "the token bucket is empty",
    ],
)
def test_harmless_text_is_left_alone(stream: io.StringIO, text: str) -> None:
    get_logger("chimera.test").info(text)
    assert one(stream)["event"] == text


def test_secrets_in_exception_tracebacks_are_redacted(stream: io.StringIO) -> None:
    log = get_logger("chimera.test")
    try:
        raise ConnectionError("cannot reach redis://app:hunter2@cache:6379/0")
    except ConnectionError:
        log.exception("lost redis")
    line = one(stream)
    assert "ConnectionError" in line["exception"]
    assert f"redis://app:{REDACTED}@cache" in line["exception"]
    assert "hunter2" not in stream.getvalue()


def test_tuples_and_named_tuples_are_logged(stream: io.StringIO) -> None:
    Pair = collections.namedtuple("Pair", "user note")
    get_logger("chimera.test").info(
        "pairs", pair=Pair("u", "token=abc123"), plain=("a", "Bearer abcdefghij")
    )
    line = one(stream)
    assert line["pair"] == ["u", f"token={REDACTED}"]
    assert line["plain"] == ["a", f"Bearer {REDACTED}"]


def test_non_string_values_pass_through(stream: io.StringIO) -> None:
    get_logger("chimera.test").info("x", n=1, f=0.5, b=True, none=None)
    line = one(stream)
    assert (line["n"], line["f"], line["b"], line["none"]) == (1, 0.5, True, None)


# --- redact_value directly -------------------------------------------------------------


def test_redact_value_does_not_mutate_its_input() -> None:
    original = {"api_key": "k", "list": [{"token": "t"}]}
    snapshot = json.loads(json.dumps(original))
    redacted = redact_value(original)
    assert redacted == {"api_key": REDACTED, "list": [{"token": REDACTED}]}
    assert original == snapshot


def test_redact_value_keeps_container_kinds() -> None:
    assert redact_value(("a", "b")) == ("a", "b")
    assert isinstance(redact_value(("a",)), tuple)
    assert isinstance(redact_value(["a"]), list)
    assert redact_value({1: "x"}) == {1: "x"}


def test_redact_value_with_a_secret_key() -> None:
    assert redact_value("anything", key="password") == REDACTED
    assert redact_value({"nested": 1}, key="api_key") == REDACTED
    assert redact_value("anything", key="username") == "anything"


async def test_the_log_audit_sink_writes_at_debug_unless_told_info(stream: io.StringIO) -> None:
    from chimera.services.audit import LogAuditSink
    from chimera.testing import make_event

    configure_logging("INFO", json=True, stream=stream)
    await LogAuditSink().write([make_event()])
    assert stream.getvalue() == ""  # filtered before anything is built
    await LogAuditSink("info").write([make_event()])
    [line] = [json.loads(x) for x in stream.getvalue().splitlines()]
    assert (line["level"], line["event"]) == ("info", "audit.decision")
    configure_logging("DEBUG", json=True, stream=stream)
    await LogAuditSink().write([make_event()])
    assert json.loads(stream.getvalue().splitlines()[-1])["level"] == "debug"


def test_plain_values_pass_redaction_untouched_and_secrets_do_not() -> None:
    assert redact_value("order 17 shipped") == "order 17 shipped"
    assert redact_value(42) == 42
    assert "hunter2" not in redact_value("redis://u:hunter2@host:6379/0")
    assert redact_value("x", "api_key") == "[REDACTED]"
