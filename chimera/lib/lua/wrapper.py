"""What every typed script wrapper shares: its keys as dataclass fields, and reply parsers."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar, TypeVar

from chimera.lib.redis_lua import Call, Lua

R = TypeVar("R")


@dataclass(frozen=True)
class ScriptKeys:
    """The keys of one script call.

    Subclasses name their script in ``SCRIPT``, declare one dataclass field per key, named
    as the script names it (without ``_key``), and a ``call`` method taking the script's
    arguments as typed keywords.
    """

    SCRIPT: ClassVar[Lua]

    def keys(self) -> dict[str, str]:
        """Every key by name."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @functools.cached_property
    def _key_values(self) -> list[str]:
        # Checked against the script's names once per instance; the hot wrappers keep
        # their instances (see ``JudgeApply.of``), so a call only orders its arguments.
        return self.SCRIPT.key_values(self.keys())

    def _call(self, parse: Callable[[Any], R], rest: Sequence[Any] = (), **args: Any) -> Call[R]:
        return self.SCRIPT.call_ordered(self._key_values, args, parse, rest)


#: An audit event a script keeps in the pending-audit hash: ``(id, JSON)``; ``None``: none.
PendingEvent = tuple[str, str] | None


def pending_args(event: PendingEvent) -> tuple[str, str]:
    """The ``(id, json)`` arguments of ``event`` (empty strings: keep nothing)."""
    return event if event is not None else ("", "")


def as_flag(reply: Any) -> bool:
    """A ``0`` / ``1`` reply."""
    return bool(int(reply))


def as_count(reply: Any) -> int:
    """A number reply."""
    return int(reply)


def as_ids(reply: Any) -> list[str]:
    """A list of stream entry ids."""
    return [str(entry_id) for entry_id in reply]
