"""``chimera plugins``: what is installed and what each plugin registers."""

from __future__ import annotations

import json

import click

from chimera.cli.options import json_option
from chimera.cli.render import print_table


@click.command()
@json_option
def plugins(as_json: bool) -> None:
    """List loaded plugins (built-ins included), their versions and what they register."""
    from chimera.plugins.registry import build_registry

    registry = build_registry()
    rows = [
        {
            "name": info.name,
            "version": info.version,
            "builtin": info.builtin,
            "backends": info.registers.get("backends", []),
            "policies": info.registers.get("policies", []),
            "sinks": info.registers.get("sinks", []),
        }
        for info in registry.plugins
    ]
    if as_json:
        click.echo(json.dumps({"plugins": rows}))
        return
    table = [
        {k: ", ".join(v) if isinstance(v, list) else v for k, v in row.items()} for row in rows
    ]
    print_table("Plugins", table, ["name", "version", "builtin", "backends", "policies", "sinks"])


def register(group: click.Group) -> None:
    """Add this module's commands to ``group``."""
    group.add_command(plugins)
