"""The ``chimera`` click group; each command lives in its own module."""

from __future__ import annotations

import click

from chimera.cli import commands_config, commands_run


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="chimera-swarm", prog_name="chimera")
def cli() -> None:
    """Run observable, multi-tenant agent swarms declared in YAML.

    Write skills as YAML, list tenants, skills and Judge thresholds in swarm.yaml, check
    it with `chimera validate swarm.yaml` and run it with `chimera run swarm.yaml`.
    """


commands_config.register(cli)
commands_run.register(cli)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="chimera")
