"""Typed wrapper of ``audit_append.lua``: the compare-and-set append to an audit chain."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from chimera.lib.keys import TenantKeys
from chimera.lib.lua.source import load
from chimera.lib.lua.wrapper import ScriptKeys
from chimera.lib.records.audit_record import ChainLink
from chimera.lib.redis_lua import Call, Lua

AUDIT_APPEND = load("audit_append")


@dataclass(frozen=True)
class AppendReply:
    """Whether the records were appended, and the chain head after the call.

    ``stored`` names the event ids refused because they are stored already.
    """

    appended: bool
    head_seq: int
    head_hash: str
    stored: tuple[str, ...] = ()


def as_append_reply(reply: Any) -> AppendReply:
    """An ``AUDIT_APPEND`` reply: ``{status, head seq, head hash, stored id...}``."""
    status = int(reply[0])
    stored = tuple(str(i) for i in reply[3:]) if status == 2 else ()
    return AppendReply(status == 1, int(reply[1]), str(reply[2]), stored)


@dataclass(frozen=True)
class AuditAppend(ScriptKeys):
    """``audit_append.lua``: append records if the chain head is still ``expected_seq``."""

    SCRIPT: ClassVar[Lua] = AUDIT_APPEND

    audit: str
    audit_head: str
    audit_ids: str

    @classmethod
    def of(cls, keys: TenantKeys) -> AuditAppend:
        """The keys of ``keys``' tenant."""
        return cls(audit=keys.audit, audit_head=keys.audit_head, audit_ids=keys.audit_ids)

    def call(self, *, expected_seq: int, links: Sequence[ChainLink]) -> Call[AppendReply]:
        """Reply: see :class:`AppendReply`."""
        rest = [
            v
            for link in links
            for v in (link.seq, link.prev, link.hash, link.event_id, link.event_json)
        ]
        return self._call(as_append_reply, rest, expected_seq=expected_seq)
