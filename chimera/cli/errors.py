"""How the CLI reports bad input: one line per problem on stderr, exit code 2, no traceback."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import click
from redis.exceptions import RedisError

from chimera.bootstrap import PluginError
from chimera.config.errors import ConfigError
from chimera.lib.redis_connect import RedisUnavailable
from chimera.services.audit import AuditFailed
from chimera.services.faults import PermanentFault

P = ParamSpec("P")
R = TypeVar("R")

#: Exit code for anything the user can fix in their input.
USAGE_ERROR = 2


class InputError(Exception):
    """Bad input the user can fix (bad JSON, unknown tenant); the message is shown as is."""


def fail(lines: list[str]) -> None:
    """Print each line to stderr and exit with code 2."""
    for line in lines:
        click.echo(line, err=True)
    raise SystemExit(USAGE_ERROR)


def reports_input_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn configuration, input and connection errors into one-line messages and exit 2."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            fail([str(p) for p in exc.problems])
        except (InputError, RedisUnavailable, PluginError) as exc:
            fail([f"error: {exc}"])
        except AuditFailed as exc:
            # Not the user's input but the environment: one line, and exit 1.
            click.echo(f"error: {exc}; what it was recording was not applied", err=True)
            raise SystemExit(1) from None
        except PermanentFault as exc:
            # Retrying cannot help (no permission, wrong password): say so once and stop.
            click.echo(f"error: {exc}; stopped", err=True)
            raise SystemExit(1) from None
        except RedisError as exc:
            click.echo(f"error: Redis failed: {exc}", err=True)
            raise SystemExit(1) from None
        raise AssertionError("unreachable")  # pragma: no cover

    return wrapper
