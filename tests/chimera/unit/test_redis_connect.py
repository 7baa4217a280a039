"""Redis URLs shown without credentials, URLs checked before use, and faults classified."""

from __future__ import annotations

import pytest
from redis.exceptions import (
    AuthenticationError,
    NoPermissionError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from chimera.lib.redis_connect import (
    InvalidRedisUrl,
    RedisUnavailable,
    check_url,
    connect,
    describe_fault,
    is_access_denied,
    safe_url,
)
from chimera.services.faults import PermanentFault


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://app:s3cret@cache:6379/0", "redis://***@cache:6379/0"),
        ("redis://:s3cret@cache:6379/0", "redis://***@cache:6379/0"),
        ("rediss://s3cret@cache/1", "rediss://***@cache/1"),
        ("redis://u:p@ss@word@cache:6379/0", "redis://***@cache:6379/0"),
        ("unix://u:s3cret@/run/redis.sock?db=2", "unix://***@/run/redis.sock?db=2"),
        ("unix:///run/redis.sock?db=1&password=s3cret", "unix:///run/redis.sock?db=1&password=***"),
        (
            "redis://cache:6379/0?username=u&password=s3cret",
            "redis://cache:6379/0?username=***&password=***",
        ),
        ("redis://[::1", "redis://[::1"),
        ("http://u:s3cret@[::1", "http://***@[::1"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("", "the embedded Redis"),
        (None, "the embedded Redis"),
    ],
)
def test_safe_url_hides_credentials(url: str | None, shown: str) -> None:
    assert safe_url(url) == shown


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://u:s3cret@127.0.0.1:6379", "the scheme must be redis://, rediss://, unix://"),
        ("redis://u:s3cret@127.0.0.1:99999/0", "Port out of range 0-65535"),
        ("redis://127.0.0.1:0/0", "port 0 is not a port"),
        ("redis://:s3cret@[::1", "Invalid IPv6 URL"),
        ("redis://127.0.0.1:abc/0", "Port could not be cast to integer value"),
        ("redis:///0", "no host"),
        ("unix://", "no socket path"),
        ("redis://u:s3cret@127.0.0.1:6379/zero", "database 'zero' is not a number"),
        ("unix:///tmp/r.sock?db=one", "database 'one' is not a number"),
        ("127.0.0.1:6379", "the scheme must be"),
    ],
)
def test_unusable_urls_are_rejected_without_showing_the_password(url: str, problem: str) -> None:
    with pytest.raises(InvalidRedisUrl) as caught:
        check_url(url)
    message = str(caught.value)
    assert message.startswith(f"invalid Redis URL {safe_url(url)}: ")
    assert problem in message
    assert "s3cret" not in message
    with pytest.raises(InvalidRedisUrl):
        connect(url)


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0",
        "rediss://u:p@cache",
        "unix:///run/redis.sock?db=3",
        "redis://[::1]:6380",
    ],
)
def test_usable_urls_pass(url: str) -> None:
    check_url(url)


def test_a_query_option_redis_py_refuses_is_one_error() -> None:
    with pytest.raises(InvalidRedisUrl) as caught:
        connect("redis://:s3cret@127.0.0.1:6379/0?socket_timeout=soon")
    assert "s3cret" not in str(caught.value)
    assert "socket_timeout" in str(caught.value)


def test_unavailable_names_the_url_without_credentials() -> None:
    error = RedisUnavailable("redis://app:s3cret@cache:6379/0", "Connection refused")
    assert str(error) == "cannot reach Redis at redis://***@cache:6379/0: Connection refused"
    assert error.url == "redis://***@cache:6379/0"


@pytest.mark.parametrize(
    ("error", "denied"),
    [
        (NoPermissionError("User acme has no permissions to run the 'xadd' command"), True),
        (ResponseError("Error running script: NOPERM User acme has no permissions"), True),
        (AuthenticationError("invalid username-password pair"), False),
        (RedisConnectionError("Connection reset by peer"), False),
        (ResponseError("BUSYGROUP Consumer Group name already exists"), False),
        (ValueError("not Redis at all"), False),
    ],
)
def test_refusals_of_access_are_told_apart(error: Exception, denied: bool) -> None:
    assert is_access_denied(error) is denied


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (NoPermissionError("User acme may not"), "no permission: User acme may not"),
        (AuthenticationError("invalid pair"), "authentication failed: invalid pair"),
        (RedisTimeoutError("Timeout reading"), "timed out: Timeout reading"),
        (RedisConnectionError("Connection reset"), "connection lost: Connection reset"),
        (ResponseError("ERR unknown command"), "error reply: ERR unknown command"),
        (OSError(), "OSError"),
    ],
)
def test_faults_are_described_by_kind(error: Exception, text: str) -> None:
    assert describe_fault(error) == text


def test_an_error_wrapping_a_redis_error_is_described_by_what_it_wraps() -> None:
    cause = NoPermissionError("this user has no permissions to run the 'evalsha' command")
    error = PermanentFault("worker.read", cause)
    error.__cause__ = cause
    assert describe_fault(error) == (
        "no permission: worker.read: NoPermissionError: "
        "this user has no permissions to run the 'evalsha' command"
    )


def test_a_pipeline_error_is_shortened_to_the_command_its_key_and_the_reason() -> None:
    big = '{"input": {"secret": "x"}}' * 100
    error = NoPermissionError(
        f"Command # 1 (EVALSHA abc123 7 chimera:{{globex}}:tasks chimera:{{globex}}:ledger "
        f"{big}) of pipeline caused error: ('this user has no permissions to access one of "
        "the keys used as arguments',)"
    )
    assert describe_fault(error) == (
        "no permission: EVALSHA chimera:{globex}:tasks: this user has no permissions to "
        "access one of the keys used as arguments"
    )
    plain = NoPermissionError(
        "Command # 2 (HSETNX p:{g}:session:s1 state open) of pipeline caused error: ('no',)"
    )
    assert describe_fault(plain) == "no permission: HSETNX p:{g}:session:s1: no"
