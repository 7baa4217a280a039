"""Redis connections: a real server by URL, or the embedded in-process one.

Also the vocabulary every command uses to talk about Redis trouble: a URL rendered without
its credentials (:func:`safe_url`), a URL that cannot work (:class:`InvalidRedisUrl`), a
server that does not answer (:class:`RedisUnavailable`), a refusal of access
(:func:`is_access_denied`) and a fault in a few words (:func:`describe_fault`). Which faults
are worth retrying is :mod:`chimera.lib.redis_faults`' business.
"""

from __future__ import annotations

import re
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit

import redis.asyncio as aioredis
from redis.exceptions import (
    AuthenticationError,
    AuthenticationWrongNumberOfArgsError,
    NoPermissionError,
    RedisError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from chimera.lib.redis_cluster import connect_cluster, is_cluster_url, parse_cluster_url
from chimera.lib.redis_packing import pack_with_hiredis
from chimera.lib.secret_values import remember_url

#: Used by the distributed commands when neither ``--redis-url`` nor the env var is set.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
#: ``chimera run`` without a URL runs against this in-process server (fakeredis).
EMBEDDED = "embedded"
#: What :func:`safe_url` puts where credentials were.
HIDDEN = "***"

_SCHEMES = ("redis", "rediss", "unix")
#: ``scheme://`` followed by everything up to the last ``@``: the user info. Taking the last
#: ``@`` hides a password that itself holds an unescaped ``@`` (better too much than too little).
_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>.*)@")
#: Query parameters redis-py turns into credentials (``?password=…``).
_SECRET_QUERY = re.compile(r"(?i)([?&](?:password|username)=)[^&#]*")


def safe_url(url: str | None) -> str:
    """Render ``url`` for messages and logs: user info and ``password=`` replaced by ``***``.

    Works on any text, valid URL or not, so it is safe to call before validation.

    Examples:
        ``redis://app:s3cret@cache:6379/0`` → ``redis://***@cache:6379/0``;
        ``unix:///run/redis.sock?password=s3cret`` → ``unix:///run/redis.sock?password=***``;
        an empty URL → ``the embedded Redis``.
    """
    if not url or url == EMBEDDED:
        return "the embedded Redis"
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{HIDDEN}@", url, count=1)
    return _SECRET_QUERY.sub(lambda m: m.group(1) + HIDDEN, text)


class InvalidRedisUrl(ValueError):
    """A ``--redis-url`` that cannot name a Redis server; the message never shows credentials."""


def check_url(url: str) -> None:
    """Raise :class:`InvalidRedisUrl` unless ``url`` is a usable Redis URL.

    Checks what redis-py would otherwise report with a traceback: the scheme, a port that
    is a number from 1 to 65535, brackets around IPv6 hosts, a numeric database. A cluster
    URL (``redis+cluster://host:port[,host:port...]``) needs a port on every node and no
    database but 0.
    """
    shown = safe_url(url)
    if is_cluster_url(url):
        try:
            parse_cluster_url(url)
        except ValueError as exc:
            raise InvalidRedisUrl(f"invalid Redis URL {shown}: {exc}") from None
        return
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidRedisUrl(f"invalid Redis URL {shown}: {exc}") from None
    if parts.scheme not in _SCHEMES:
        raise InvalidRedisUrl(
            f"invalid Redis URL {shown}: the scheme must be redis://, rediss://, unix:// "
            "or redis+cluster://"
        )
    if port == 0:
        raise InvalidRedisUrl(f"invalid Redis URL {shown}: port 0 is not a port")
    if parts.scheme == "unix":
        if not parts.path:
            raise InvalidRedisUrl(f"invalid Redis URL {shown}: no socket path")
    elif not parts.hostname:
        raise InvalidRedisUrl(f"invalid Redis URL {shown}: no host")
    database = dict(parse_qsl(parts.query)).get("db") or (
        parts.path.lstrip("/") if parts.scheme != "unix" else ""
    )
    if database and not database.isdigit():
        raise InvalidRedisUrl(f"invalid Redis URL {shown}: database {database!r} is not a number")


class RedisUnavailable(Exception):
    """No Redis answered at ``url`` (or it refused our credentials).

    Attributes:
        url: the URL as :func:`safe_url` renders it.
    """

    def __init__(self, url: str, reason: str) -> None:
        self.url = safe_url(url)
        super().__init__(f"cannot reach Redis at {self.url}: {reason}")


def is_access_denied(exc: BaseException) -> bool:
    """Tell whether ``exc`` is Redis refusing this user a key or command (``NOPERM``)."""
    if isinstance(exc, NoPermissionError):
        return True
    return isinstance(exc, ResponseError) and "NOPERM" in str(exc)


def describe_fault(exc: BaseException) -> str:
    """A short, fixed phrase for the kind of Redis fault ``exc`` is, then its message.

    Examples: ``connection lost: Connection reset by peer``, ``no permission: User acme
    has no permissions to run the 'xadd' command``, ``timed out: Timeout reading from
    socket``. An error that wraps a Redis error (a loop's ``PermanentFault``) is named by
    the kind of what it wraps, with its own message.
    """
    wrapped = exc.__cause__
    cause = wrapped if wrapped is not None and not isinstance(exc, RedisError) else exc
    if is_access_denied(cause):
        kind = "no permission"
    elif isinstance(cause, AuthenticationError | AuthenticationWrongNumberOfArgsError):
        kind = "authentication failed"
    elif isinstance(cause, RedisTimeoutError | TimeoutError):
        kind = "timed out"
    elif isinstance(cause, RedisConnectionError | ConnectionError):
        kind = "connection lost"
    elif isinstance(cause, ResponseError):
        kind = "error reply"
    else:
        kind = type(cause).__name__
    message = _short(str(exc) or str(cause))
    return f"{kind}: {message}" if message else kind


#: How redis-py reports the error of one command of a pipeline.
_PIPELINE_ERROR = re.compile(r"Command # \d+ \((.*?)\) of pipeline caused error: (.*)", re.S)


def _short(message: str) -> str:
    """A pipeline's error as the command's name and key, and the server's words.

    redis-py repeats the whole failed command, arguments and all (a Lua call's task JSON):
    too long for one line, and not for every reader's eyes.
    """
    match = _PIPELINE_ERROR.search(message)
    if match is None:
        return message
    words = match.group(1).split()
    # EVALSHA <sha> <numkeys> <first key> ...: the key says more than the SHA.
    shown = words[:1] + words[3:4] if words[:1] in (["EVALSHA"], ["EVAL"]) else words[:2]
    reason = match.group(2).strip().removeprefix("('").removesuffix("',)")
    return f"{' '.join(shown)}: {reason}"


def connect(url: str | None, client_name: str | None = None) -> aioredis.Redis:
    """Return an async client for ``url``, or for the embedded server when ``url`` is empty.

    The embedded server lives in this process only (fakeredis with Lua): right for a laptop
    run, a demo or a test, and shared by every client this function returns in the process.
    A ``redis+cluster://`` URL gives redis-py's asyncio ``RedisCluster``: it offers the
    commands and ``pipeline()`` chimera uses, so it is typed as the client it stands in for.

    Raises:
        InvalidRedisUrl: ``url`` cannot name a Redis server.
    """
    if not url or url == EMBEDDED:
        import fakeredis

        return fakeredis.FakeAsyncRedis(server=_embedded_server(), decode_responses=True)
    remember_url(url)  # nothing this process writes may repeat the password
    check_url(url)
    try:
        if is_cluster_url(url):
            cluster = pack_with_hiredis(connect_cluster(url, client_name=client_name))
            return cast("aioredis.Redis", cluster)
        # The client name shows in CLIENT LIST, so an operator sees which connection is whose.
        client = aioredis.from_url(
            url, decode_responses=True, health_check_interval=30, client_name=client_name
        )
        return pack_with_hiredis(client)
    except ValueError as exc:  # what check_url does not know about (query options)
        raise InvalidRedisUrl(f"invalid Redis URL {safe_url(url)}: {exc}") from None


_server: Any = None


def _embedded_server() -> Any:
    global _server
    if _server is None:
        import fakeredis

        _server = fakeredis.FakeServer(version=(7,))
    return _server


async def check_reachable(client: aioredis.Redis, url: str | None) -> None:
    """PING ``client``; raise :class:`RedisUnavailable` naming ``url`` if it does not answer.

    Wrong credentials raise it too, saying so: the URL is as much at fault as an address.
    """
    try:
        await client.ping()
    except (AuthenticationError, AuthenticationWrongNumberOfArgsError) as exc:
        raise RedisUnavailable(url or EMBEDDED, f"authentication failed: {exc}") from None
    except (RedisError, OSError) as exc:
        reason = describe_fault(exc) if is_access_denied(exc) else str(exc) or type(exc).__name__
        raise RedisUnavailable(url or EMBEDDED, reason) from None
