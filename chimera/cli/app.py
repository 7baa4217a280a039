"""The ``chimera`` click group; each command lives in its own module."""

from __future__ import annotations

import click

from chimera.cli import (
    commands_acl,
    commands_config,
    commands_dlq,
    commands_gc,
    commands_mcp,
    commands_ops,
    commands_pipeline,
    commands_plugins,
    commands_review,
    commands_run,
    commands_task,
    commands_tasks,
)
from chimera.cli.log_options import add_log_options, configure_from_group, json_option, level_option
from chimera.lib.secret_values import remember_environment


class ChimeraGroup(click.Group):
    """A group whose every command also accepts the logging options after its name."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        """Register ``cmd`` (see :func:`~chimera.cli.log_options.add_log_options`)."""
        add_log_options(cmd)
        super().add_command(cmd, name)


@click.group(
    cls=ChimeraGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="chimera-swarm", prog_name="chimera")
@click.pass_context
def cli(ctx: click.Context, log_level: str | None, log_json: bool | None) -> None:
    """Run observable, multi-tenant agent swarms declared in YAML.

    Write skills as YAML, list tenants, skills and Judge thresholds in swarm.yaml, check
    it with `chimera validate swarm.yaml` and run it with `chimera run swarm.yaml`.
    """
    configure_from_group(ctx, log_level, log_json)
    # Whatever the command prints or logs from here on never repeats these values.
    remember_environment()


cli.params += [level_option(envvar="CHIMERA_LOG_LEVEL"), json_option()]

commands_config.register(cli)
commands_run.register(cli)
commands_tasks.register(cli)
commands_pipeline.register(cli)
commands_task.register(cli)
commands_ops.register(cli)
commands_review.register(cli)
commands_dlq.register(cli)
commands_gc.register(cli)
commands_plugins.register(cli)
commands_mcp.register(cli)
commands_acl.register(cli)
