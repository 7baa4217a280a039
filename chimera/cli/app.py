"""The ``chimera`` click group; each command lives in its own module."""

from __future__ import annotations

import click

from chimera.cli import (
    commands_config,
    commands_dlq,
    commands_mcp,
    commands_ops,
    commands_plugins,
    commands_review,
    commands_run,
)
from chimera.lib.logging import configure_logging


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="chimera-swarm", prog_name="chimera")
@click.option(
    "--log-level",
    envvar="CHIMERA_LOG_LEVEL",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    help="Log level on stderr (default: INFO for `worker`, WARNING otherwise). "
    "Env: CHIMERA_LOG_LEVEL.",
)
@click.option(
    "--log-json/--log-console",
    default=None,
    help="JSON log lines, or readable ones (default: readable on a terminal, JSON otherwise).",
)
@click.pass_context
def cli(ctx: click.Context, log_level: str | None, log_json: bool | None) -> None:
    """Run observable, multi-tenant agent swarms declared in YAML.

    Write skills as YAML, list tenants, skills and Judge thresholds in swarm.yaml, check
    it with `chimera validate swarm.yaml` and run it with `chimera run swarm.yaml`.
    """
    default = "INFO" if ctx.invoked_subcommand == "worker" else "WARNING"
    configure_logging(level=log_level or default, json=log_json)


commands_config.register(cli)
commands_run.register(cli)
commands_ops.register(cli)
commands_review.register(cli)
commands_dlq.register(cli)
commands_plugins.register(cli)
commands_mcp.register(cli)
