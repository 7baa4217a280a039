"""How commands report failures: one line on stderr, an exit code, no traceback.

Exit 2 for anything the user can fix in what they typed or wrote (configuration, input,
an unknown tenant, a Redis URL that is wrong or does not answer); exit 1 for faults of the
environment met while working (Redis lost, refused or timing out, an audit sink failing).
With ``--log-level DEBUG`` the traceback is printed above the line.
"""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import click
from redis.exceptions import RedisError

from chimera.bootstrap import PluginError
from chimera.cli.log_options import debug_requested
from chimera.config.errors import ConfigError
from chimera.lib.keys import TenantKeys
from chimera.lib.logging import redact_value
from chimera.lib.redis_connect import (
    InvalidRedisUrl,
    RedisUnavailable,
    describe_fault,
    is_access_denied,
    safe_url,
)
from chimera.services.audit import AuditFailed
from chimera.services.errors import RequestError
from chimera.services.faults import PermanentFault

P = ParamSpec("P")
R = TypeVar("R")

#: Exit code for a fault of the environment (Redis, an audit sink) met while working.
FAULT = 1
#: Exit code for anything the user can fix in their input.
USAGE_ERROR = 2


class InputError(Exception):
    """Bad input the user can fix (bad JSON, unknown tenant); the message is shown as is."""


class RedisFault(Exception):
    """A Redis fault that ended a command, with the (redacted) URL it happened at."""

    def __init__(self, url: str | None, error: BaseException) -> None:
        self.url = safe_url(url)
        where = f"Redis at {self.url}" if url else self.url
        super().__init__(f"{where} failed: {describe_fault(error)}")


def _say(line: str) -> None:
    click.echo(redact_value(line), err=True)


def fail(lines: list[str], code: int = USAGE_ERROR) -> None:
    """Print each line to stderr (secrets redacted) and exit with ``code``."""
    for line in lines:
        _say(line)
    raise SystemExit(code)


def _traceback_if_debug(exc: BaseException) -> None:
    if debug_requested():
        _say("".join(traceback.format_exception(exc)).rstrip())


def _access_hint(exc: BaseException, options: dict[str, object]) -> str:
    """For a refusal of access, which tenants' keys the command needed (see ``chimera acl``)."""
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    if not is_access_denied(cause) and not is_access_denied(exc):
        return ""
    named = options.get("tenant") or options.get("tenants")
    if isinstance(named, str):
        tenants = [named]
    elif isinstance(named, tuple | list):
        tenants = [str(t) for t in named]
    else:
        tenants = []
    prefix = options.get("prefix")
    if not tenants or not isinstance(prefix, str):
        return "; see `chimera acl` for the rules a Redis user needs"
    return lacking(prefix, tenants)


def lacking(prefix: str, tenants: list[str]) -> str:
    """``; this Redis user may lack ~<prefix>:{<tenant>}:* (see `chimera acl`)``."""
    patterns = ", ".join(f"~{TenantKeys(prefix, t).base}:*" for t in tenants)
    return f"; this Redis user may lack {patterns} (see `chimera acl`)"


def reports_input_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn every expected failure of a command into one line and an exit code."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            _traceback_if_debug(exc)
            fail([str(p) for p in exc.problems])
        except (
            InputError,
            RequestError,
            InvalidRedisUrl,
            RedisUnavailable,
            PluginError,
        ) as exc:
            _traceback_if_debug(exc)
            fail([f"error: {exc}"])
        except AuditFailed as exc:
            _traceback_if_debug(exc)
            fail([f"error: {exc}; what it was recording was not applied"], FAULT)
        except RedisFault as exc:
            _traceback_if_debug(exc)
            fail([f"error: {exc}{_access_hint(exc, kwargs)}"], FAULT)
        except PermanentFault as exc:
            _traceback_if_debug(exc)
            fail([f"error: {exc}{_access_hint(exc, kwargs)}; stopped"], FAULT)
        except RedisError as exc:
            _traceback_if_debug(exc)
            fail([f"error: Redis failed: {describe_fault(exc)}"], FAULT)
        raise AssertionError("unreachable")  # pragma: no cover

    return wrapper
