"""What every typed script wrapper shares: its keys as dataclass fields, and reply parsers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from chimera.lib.redis_lua import Call, Lua

R = TypeVar("R")


@dataclass(frozen=True)
class ScriptKeys:
    """The keys of one script call.

    Subclasses declare one dataclass field per key, named as the script names it (without
    ``_key``), and a ``call`` method with the script's arguments as typed keywords.
    """

    def keys(self) -> dict[str, str]:
        """Every key by name."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def _call(
        self,
        script: Lua,
        parse: Callable[[Any], R],
        rest: Sequence[Any] = (),
        **args: Any,
    ) -> Call[R]:
        return script.call(self.keys(), args, parse, rest)


def as_flag(reply: Any) -> bool:
    """A ``0`` / ``1`` reply."""
    return bool(int(reply))


def as_count(reply: Any) -> int:
    """A number reply."""
    return int(reply)


def as_ids(reply: Any) -> list[str]:
    """A list of stream entry ids."""
    return [str(entry_id) for entry_id in reply]
