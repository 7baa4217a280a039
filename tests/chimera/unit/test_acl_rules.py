"""The Redis ACL rules `chimera acl` prints: one tenant's keys, chimera's commands only."""

from __future__ import annotations

import re
from importlib import resources

from chimera.lib.acl import (
    CLIENT_COMMANDS,
    acl_users,
    commands,
    glob_escape,
    operator_user,
    script_commands,
    tenant_user,
)


def test_a_tenant_user_may_touch_its_own_keys_only() -> None:
    user = tenant_user("acme")
    assert user.name == "chimera-tenant-acme"
    assert user.key_pattern == "chimera:{acme}:*"
    words = user.command.split()
    assert words[:6] == [
        "ACL",
        "SETUSER",
        "chimera-tenant-acme",
        "reset",
        "on",
        "~chimera:{acme}:*",
    ]
    assert [w for w in words if w.startswith("~")] == ["~chimera:{acme}:*"]
    assert "resetchannels" in words
    assert "-@all" in words
    assert not any(w.startswith((">", "#")) or w in ("nopass", "allkeys", "+@all") for w in words)
    assert [w.removeprefix("+") for w in words if w.startswith("+")] == commands()


def test_every_command_a_script_calls_is_granted() -> None:
    folder = resources.files("chimera.lib.lua")
    called = set()
    for item in folder.iterdir():
        if item.name.endswith(".lua"):
            text = item.read_text("utf-8")
            called |= {c.lower() for c in re.findall(r"redis\.call\('(\w+)'", text)}
    assert called == script_commands()
    assert called <= set(commands())
    assert set(CLIENT_COMMANDS["scripts"]) <= set(commands())
    assert "flushall" not in commands()
    assert "keys" not in commands()


def test_the_operator_reaches_every_tenant_under_the_prefix() -> None:
    users = acl_users(["acme", "globex"], prefix="desk")
    assert [u.name for u in users] == [
        "chimera-tenant-acme",
        "chimera-tenant-globex",
        "chimera-operator",
    ]
    assert [u.tenant for u in users] == ["acme", "globex", None]
    assert operator_user("desk").key_pattern == "desk:*"


def test_glob_characters_in_a_prefix_match_only_themselves() -> None:
    assert glob_escape("a*b?[c]\\") == "a\\*b\\?\\[c\\]\\\\"
    assert tenant_user("acme", prefix="x*").key_pattern == "x\\*:{acme}:*"
