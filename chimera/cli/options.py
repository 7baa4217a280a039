"""Options shared by several commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import click
from click.decorators import FC

from chimera.lib.keys import DEFAULT_PREFIX
from chimera.lib.redis_connect import DEFAULT_REDIS_URL

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")

prefix_option = click.option(
    "--prefix",
    envvar="CHIMERA_PREFIX",
    default=DEFAULT_PREFIX,
    show_default=True,
    help="Key prefix in Redis; lets several swarms share one server. Env: CHIMERA_PREFIX.",
)


def redis_url_option(default: str | None) -> Callable[[FC], FC]:
    """``--redis-url``; ``default`` None means the embedded in-process Redis."""
    where = "the embedded in-process Redis" if default is None else default
    return click.option(
        "--redis-url",
        envvar="CHIMERA_REDIS_URL",
        default=default,
        help=f"Redis to use (default: {where}). Env: CHIMERA_REDIS_URL.",
    )


distributed_redis = redis_url_option(DEFAULT_REDIS_URL)


tenant_filter = click.option("--tenant", help="Only this tenant.")


def tenant_listing(func: FC) -> FC:
    """SWARM, ``--redis-url``, ``--prefix``, ``--tenant``, ``--json``; input errors reported.

    The shape shared by every command that lists something per tenant from a shared Redis.
    """
    from chimera.cli.commands_config import SWARM_ARG
    from chimera.cli.errors import reports_input_errors

    wrapped = cast(FC, reports_input_errors(func))
    for decorator in (json_option, tenant_filter, prefix_option, distributed_redis, SWARM_ARG):
        wrapped = decorator(wrapped)
    return wrapped
