"""The supervised form of ``chimera worker``: what ``--processes N`` runs instead of the loops.

The supervisor checks what every child would check first (the swarm, ``--tenant``, the
Redis URL), so a mistake fails once with exit 2 instead of as a crash loop, then starts N
children with the command line the user typed minus ``--processes``. Each child of slot
``i`` serves its metrics at ``--metrics-port`` + ``i`` (N processes cannot share one port).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from click.core import ParameterSource

from chimera.cli.errors import fail
from chimera.cli.loading import load_for_cli
from chimera.cli.log_options import log_arguments
from chimera.cli.signals import EarlyStop
from chimera.cli.supervisor import Supervisor
from chimera.lib.redis_connect import check_url
from chimera.services.tenants import TenantScope

#: Parameters of ``chimera worker`` the children do not get as typed.
_NOT_PASSED = {"processes", "metrics_port"}


def supervise_workers(
    ctx: click.Context, processes: int, swarm: Path, redis_url: str, tenants: tuple[str, ...]
) -> None:
    """Check the invocation, run ``processes`` children until stopped, exit as they did.

    Raises:
        ConfigError, UnknownTenant, InvalidRedisUrl: reported as exit 2 by the command.
    """
    from chimera.plugins.manager import get_plugin_manager

    check_url(redis_url)
    loaded = load_for_cli(swarm, get_plugin_manager())
    TenantScope(loaded.tenants).check(tenants)
    supervisor = Supervisor(lambda slot: child_command(ctx, slot), processes)
    early = ctx.find_object(EarlyStop) or EarlyStop()
    early.install()
    try:
        code = supervisor.run(early)
    finally:
        early.restore()
    report = supervisor.crash_report()
    if report is not None:
        fail([f"error: {report}"], code=code)
    if code:
        raise SystemExit(code)


def child_command(ctx: click.Context, slot: int) -> list[str]:
    """The command line of the child in ``slot``: this invocation without ``--processes``.

    Options the user gave on the command line are repeated; those from the environment or
    defaults are not (the child inherits the environment), except ``--metrics-port``,
    which is shifted by the slot wherever it came from.
    """
    command = ctx.command
    argv = [sys.executable, "-m", "chimera", *log_arguments(ctx), command.name or "worker"]
    for param in command.params:
        name = param.name or ""
        if name not in ctx.params or name in _NOT_PASSED:
            continue
        if ctx.get_parameter_source(name) is not ParameterSource.COMMANDLINE:
            continue
        argv += _as_arguments(param, ctx.params[name])
    port = ctx.params.get("metrics_port")
    if port is not None:
        argv += ["--metrics-port", str(port + slot if port else 0)]
    return argv


def _as_arguments(param: click.Parameter, value: object) -> list[str]:
    """``param`` set to ``value`` as command-line words."""
    if isinstance(param, click.Argument):
        return [str(value)]
    assert isinstance(param, click.Option)
    if param.is_flag and param.secondary_opts:
        return [param.opts[0] if value else param.secondary_opts[0]]
    if param.is_flag:
        return [param.opts[0]] if value else []
    values = value if param.multiple and isinstance(value, tuple) else (value,)
    words: list[str] = []
    for item in values:
        words += [param.opts[0], str(item)]
    return words
