"""An in-memory stream with consumer groups: the part of Redis Streams chimera relies on.

Entries have Redis-shaped ids (``<ms>-<seq>``, increasing) and hold a dict of fields. A
group remembers the last id it delivered, its pending entries (owner, delivery count,
time of last delivery) and its consumers (time last seen). Times are milliseconds from the
store's clock, so tests can move idle time forward without sleeping.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

#: An entry's fields. Bytes that are not UTF-8 (garbage a test writes) are kept as text
#: with ``surrogateescape``, and turned back into those bytes when the entry is decoded.
Fields = dict[str, str]


def parse_id(entry_id: str) -> tuple[int, int]:
    """``"<ms>-<seq>"`` as a pair that sorts like Redis sorts ids."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


@dataclass
class Pending:
    """A delivered entry not yet acknowledged."""

    consumer: str
    delivered_ms: float
    deliveries: int


@dataclass
class Group:
    """A consumer group of one stream."""

    last_delivered: tuple[int, int] = (0, 0)
    pending: dict[str, Pending] = field(default_factory=dict)
    consumers: dict[str, float] = field(default_factory=dict)
    """Consumer name → when it last read, claimed or renewed (ms)."""

    def pending_in_order(self) -> list[str]:
        """The pending entry ids, oldest first."""
        return sorted(self.pending, key=parse_id)


@dataclass
class Delivered:
    """An entry handed to a consumer: its id, its fields and its delivery count."""

    entry_id: str
    fields: Fields
    deliveries: int


class Stream:
    """One stream: entries in id order, and its consumer groups."""

    def __init__(self) -> None:
        self.entries: dict[str, Fields] = {}
        self.groups: dict[str, Group] = {}
        self._last_id: tuple[int, int] = (0, 0)

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[tuple[str, Fields]]:
        return iter(list(self.entries.items()))

    def add(self, fields: Fields, now_ms: float) -> str:
        """XADD: append an entry with a new, increasing id; return the id."""
        ms = max(int(now_ms), self._last_id[0])
        seq = self._last_id[1] + 1 if ms == self._last_id[0] else 0
        self._last_id = (ms, seq)
        entry_id = f"{ms}-{seq}"
        self.entries[entry_id] = dict(fields)
        return entry_id

    def delete(self, entry_id: str) -> bool:
        """XDEL: remove an entry (its pending records stay, as in Redis)."""
        return self.entries.pop(entry_id, None) is not None

    def group(self, name: str) -> Group:
        """The group ``name``, created (from the start of the stream) if missing."""
        return self.groups.setdefault(name, Group())

    def read_new(self, group: str, consumer: str, count: int, now_ms: float) -> list[Delivered]:
        """XREADGROUP ``>``: up to ``count`` entries after the group's last delivered one."""
        state = self.group(group)
        state.consumers[consumer] = now_ms
        out: list[Delivered] = []
        for entry_id, fields in self.entries.items():
            if len(out) >= count:
                break
            if parse_id(entry_id) <= state.last_delivered:
                continue
            state.last_delivered = parse_id(entry_id)
            state.pending[entry_id] = Pending(consumer, now_ms, 1)
            out.append(Delivered(entry_id, dict(fields), 1))
        return out

    def read_own(self, group: str, consumer: str, count: int, now_ms: float) -> list[Delivered]:
        """XREADGROUP ``0``: entries pending to ``consumer``; each counts as delivered again."""
        state = self.group(group)
        state.consumers[consumer] = now_ms
        out: list[Delivered] = []
        for entry_id in state.pending_in_order():
            pending = state.pending[entry_id]
            if len(out) >= count:
                break
            if pending.consumer != consumer:
                continue
            pending.deliveries += 1
            pending.delivered_ms = now_ms
            if entry_id in self.entries:  # a deleted entry reads as nothing
                out.append(Delivered(entry_id, dict(self.entries[entry_id]), pending.deliveries))
        return out

    def ack(self, group: str, entry_id: str) -> bool:
        """XACK: True when the entry was pending to the group (to any consumer)."""
        return self.group(group).pending.pop(entry_id, None) is not None

    def owner(self, group: str, entry_id: str) -> str | None:
        """The consumer an entry is pending to, if it is pending."""
        pending = self.group(group).pending.get(entry_id)
        return pending.consumer if pending else None

    def renew(self, group: str, consumer: str, entry_id: str, now_ms: float) -> None:
        """XCLAIM ``0 … JUSTID`` by the owner: reset the idle time, count no delivery."""
        state = self.group(group)
        state.consumers[consumer] = now_ms
        state.pending[entry_id].delivered_ms = now_ms

    def autoclaim(
        self, group: str, consumer: str, min_idle_ms: int, count: int, now_ms: float
    ) -> list[Delivered]:
        """XAUTOCLAIM from ``0-0``: take up to ``count`` entries idle at least ``min_idle_ms``.

        A pending entry whose stream entry was deleted is dropped from the pending list and
        not returned (Redis 7). Each claimed entry counts one more delivery.
        """
        state = self.group(group)
        state.consumers[consumer] = now_ms
        out: list[Delivered] = []
        for entry_id in state.pending_in_order():
            if len(out) >= count:
                break
            pending = state.pending[entry_id]
            if now_ms - pending.delivered_ms < min_idle_ms:
                continue
            if entry_id not in self.entries:
                del state.pending[entry_id]
                continue
            pending.consumer = consumer
            pending.deliveries += 1
            pending.delivered_ms = now_ms
            out.append(Delivered(entry_id, dict(self.entries[entry_id]), pending.deliveries))
        return out

    def lag(self, group: str) -> int:
        """Entries the group has not been given yet."""
        last = self.group(group).last_delivered
        return sum(1 for entry_id in self.entries if parse_id(entry_id) > last)
