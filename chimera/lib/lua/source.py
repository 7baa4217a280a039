"""Loading a ``.lua`` file of this package: its names rendered in, its inputs read off its header.

A script names its inputs at the top, one per line, and uses only those names below::

    local tasks_key = KEYS[1]
    local group = ARGV[1]

Keys end in ``_key``; the wrapper passes them by the name without it (``tasks``). Stored
names (fields, counters, states) appear as ``$PLACEHOLDER``s and are replaced, once at
load, by the quoted value from :func:`chimera.lib.fields.lua_names`. Why rendered rather
than passed in ``ARGV``: they are constants of a chimera version, not inputs of a call, so
the hot path does not send them with every call; the SHA then covers them, so two
versions that spell a field differently never share a script; and a placeholder left
unrendered is not valid Lua, so a mistake fails at ``SCRIPT LOAD``, not halfway through.
"""

from __future__ import annotations

import re
from importlib import resources

from chimera.lib.fields import lua_names
from chimera.lib.redis_lua import Lua

_DECLARATION = re.compile(r"^local (\w+) = (KEYS|ARGV)\[(\d+)\]\s*$", re.MULTILINE)
_PLACEHOLDER = re.compile(r"\$([A-Z][A-Z0-9_]*)")
#: What a rendered name may look like: it is quoted into Lua source as is.
_PLAIN_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class ScriptError(ValueError):
    """A ``.lua`` file breaks the layout this module relies on (a bug, caught at import)."""


def load(name: str) -> Lua:
    """Read ``<name>.lua`` from this package and prepare it for :class:`LuaBatch`.

    Raises:
        ScriptError: an unknown placeholder, or inputs not declared as described above.
    """
    text = resources.files(__package__).joinpath(f"{name}.lua").read_text(encoding="utf-8")
    return parse(name, text)


def parse(name: str, text: str) -> Lua:
    """Render ``text`` and read its declared inputs (see :func:`load`)."""
    keys: list[str] = []
    args: list[str] = []
    for match in _DECLARATION.finditer(text):
        local, table, index = match.group(1), match.group(2), int(match.group(3))
        names = keys if table == "KEYS" else args
        if index != len(names) + 1:
            raise ScriptError(f"{name}.lua: {local} is {table}[{index}], expected the next one")
        if table == "KEYS":
            if not local.endswith("_key"):
                raise ScriptError(f"{name}.lua: key {local} should end in _key")
            local = local.removesuffix("_key")
        names.append(local)
    # What is left once the declarations and comments are gone must not index by number.
    body = re.sub(r"--[^\n]*", "", _DECLARATION.sub("", text))
    if re.search(r"KEYS\[", body):
        raise ScriptError(f"{name}.lua: KEYS used outside the declarations at the top")
    if re.search(r"ARGV\[\d", body):
        raise ScriptError(f"{name}.lua: a numbered ARGV used outside the declarations")
    return Lua(render(name, text), name=name, key_names=tuple(keys), arg_names=tuple(args))


def render(name: str, text: str) -> str:
    """Replace every ``$PLACEHOLDER`` in ``text`` with its quoted name."""
    names = lua_names()

    def quoted(match: re.Match[str]) -> str:
        value = names.get(match.group(1))
        if value is None:
            raise ScriptError(f"{name}.lua: unknown name ${match.group(1)}")
        if not _PLAIN_NAME.match(value):
            raise ScriptError(f"{name}.lua: ${match.group(1)} = {value!r} cannot be quoted")
        return f"'{value}'"

    return _PLACEHOLDER.sub(quoted, text)
