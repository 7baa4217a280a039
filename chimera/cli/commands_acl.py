"""``chimera acl``: the Redis ACL rules that confine each tenant's processes to its keys."""

from __future__ import annotations

import json
from pathlib import Path

import click

from chimera.cli.commands_config import SWARM_ARG
from chimera.cli.errors import reports_input_errors
from chimera.cli.loading import load_for_cli
from chimera.cli.options import json_option, prefix_option
from chimera.lib.acl import acl_users, tenant_user
from chimera.services.tenants import TenantScope


@click.command()
@SWARM_ARG
@prefix_option
@click.option("--tenant", help="Only this tenant's user (no operator).")
@json_option
@reports_input_errors
def acl(swarm: Path, prefix: str, tenant: str | None, as_json: bool) -> None:
    """Print `ACL SETUSER` rules: one Redis user per tenant of SWARM, and an operator.

    A tenant's user may touch only its own keys (`~<prefix>:{<tenant>}:*`) with only the
    commands chimera sends (its scripts' commands included); run `chimera worker --tenant
    T`, `submit` and `status` for tenant T under it. The operator's user has the same
    commands on every tenant's keys (`review`, `dlq`, `audit` across tenants). No password
    is set: add one (`ACL SETUSER <user> >secret`) before anyone can log in as it.
    """
    loaded = load_for_cli(swarm)
    if tenant is not None:
        TenantScope(loaded.tenants).check([tenant])
        users = [tenant_user(tenant, prefix)]
    else:
        users = acl_users(loaded.tenants, prefix)
    if as_json:
        rows = [
            {"user": u.name, "tenant": u.tenant, "keys": u.key_pattern, "command": u.command}
            for u in users
        ]
        click.echo(json.dumps({"users": rows}))
        return
    click.echo(f"# Redis ACL users for swarm {loaded.config.name!r} (key prefix {prefix!r}).")
    click.echo("# No password is set: add one before use, e.g. ACL SETUSER <user> >secret")
    for user in users:
        who = f"tenant {user.tenant}" if user.tenant else "the operator (every tenant)"
        click.echo(f"# {who}: keys {user.key_pattern}")
        click.echo(user.command)


def register(group: click.Group) -> None:
    """Add this module's commands to ``group``."""
    group.add_command(acl)
