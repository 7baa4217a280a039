"""Redis ACL rules that confine a chimera process to one tenant's keys.

Every key of a tenant starts with ``<prefix>:{<tenant>}:`` (see :mod:`chimera.lib.keys`),
so one key pattern per tenant is a whole tenant. A tenant's user may run only the
commands chimera sends: those its Python code sends (:data:`CLIENT_COMMANDS`) and those
its Lua scripts call, read off the scripts themselves. Redis 7 checks a script's own
``redis.call`` commands and keys against the calling user's rules too, so both lists
are needed. chimera uses no pub/sub channels.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

from chimera.lib.keys import DEFAULT_PREFIX, TenantKeys

#: Commands chimera's Python code sends (subcommands as ``command|sub``), by what needs them.
CLIENT_COMMANDS: dict[str, tuple[str, ...]] = {
    # redis-py also sends CLIENT SETINFO on connect and ignores a refusal: not needed.
    "connecting": ("ping", "client|setname"),
    "scripts": ("evalsha", "script|load"),
    "transactions": ("multi", "exec"),
    "reading streams": ("xreadgroup", "xautoclaim", "xpending", "xrange", "xlen"),
    # A Worker waits for a new entry with XREAD when nothing is waiting (read_within).
    "waiting for entries": ("xread",),
    "consumer groups": ("xgroup|create", "xgroup|delconsumer", "xinfo|groups", "xinfo|consumers"),
    "hashes": ("hget", "hmget", "hgetall", "hset", "hsetnx", "hdel", "hlen"),
    "heartbeats": ("pexpire",),
    "sets": ("sadd", "smembers", "zcard"),
    # The retention sweep: its lease (SET NX PX), dead letters by count, acked entries.
    "retention": ("set", "xrevrange", "xtrim"),
    # A cluster client learns the slot map, the commands' key positions, and follows ASK.
    "a Redis Cluster": ("cluster|slots", "command", "asking"),
}

_CALL = re.compile(r"redis\.call\(\s*'([A-Za-z]+)'")
#: Characters a Redis glob pattern gives a meaning to.
_GLOB = re.compile(r"([*?\[\]\\])")

#: The name of the user of every tenant (the operator's is fixed).
TENANT_USER = "chimera-tenant-{tenant}"
OPERATOR_USER = "chimera-operator"


def script_commands() -> set[str]:
    """Every command chimera's Lua scripts call, read off their source."""
    folder = resources.files("chimera.lib.lua")
    found: set[str] = set()
    for item in folder.iterdir():
        if item.name.endswith(".lua"):
            found.update(name.lower() for name in _CALL.findall(item.read_text("utf-8")))
    return found


def commands() -> list[str]:
    """Every command a chimera process may send, sorted."""
    needed = {name for group in CLIENT_COMMANDS.values() for name in group}
    return sorted(needed | script_commands())


def glob_escape(text: str) -> str:
    """``text`` as a Redis glob pattern matching only itself."""
    return _GLOB.sub(r"\\\1", text)


@dataclass(frozen=True)
class AclUser:
    """One Redis user's rules.

    Attributes:
        name: the user name.
        tenant: whose keys (``None``: the operator's, every tenant's).
        key_pattern: the one key pattern it may touch.
        rules: the ``ACL SETUSER`` arguments after the name.
    """

    name: str
    tenant: str | None
    key_pattern: str
    rules: tuple[str, ...]

    @property
    def command(self) -> str:
        """The ``ACL SETUSER`` line (no password: add ``>secret`` before it can log in)."""
        return " ".join(("ACL", "SETUSER", self.name, *self.rules))


def _rules(pattern: str) -> tuple[str, ...]:
    # reset: no passwords, no keys, no channels, no commands, off; then grant what we use.
    return ("reset", "on", f"~{pattern}", "resetchannels", "-@all", *(f"+{c}" for c in commands()))


def tenant_user(tenant: str, prefix: str = DEFAULT_PREFIX) -> AclUser:
    """The user that may touch ``tenant``'s keys and nothing else."""
    pattern = glob_escape(TenantKeys(prefix, tenant).base) + ":*"
    return AclUser(TENANT_USER.format(tenant=tenant), tenant, pattern, _rules(pattern))


def operator_user(prefix: str = DEFAULT_PREFIX) -> AclUser:
    """The user of an operator: every tenant's keys under ``prefix``, the same commands."""
    pattern = glob_escape(prefix) + ":*"
    return AclUser(OPERATOR_USER, None, pattern, _rules(pattern))


def acl_users(tenants: Sequence[str], prefix: str = DEFAULT_PREFIX) -> list[AclUser]:
    """One user per tenant, in order, then the operator."""
    return [tenant_user(t, prefix) for t in tenants] + [operator_user(prefix)]
