"""The in-memory world the fakes of the ports share: per tenant, what Redis would hold.

Every fake of one :class:`MemoryStore` sees the same data, as the Redis adapters of one
server do: the queue writes the ledger the unit of work reads, the unit of work counts into
the sessions the session store reads. Values are stored as the same strings the Redis
adapters store (encoded by ``chimera.lib.records``), so the fakes compare and parse
exactly what Redis would, and a test can look at any of it directly::

    store = MemoryStore()
    ...
    assert task.id in store.tenant("acme").committed
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from chimera.models.types import is_safe_id
from chimera.testing.fakes.faults import Faults
from chimera.testing.fakes.streams import Stream


@dataclass
class TenantData:
    """One tenant's keys. Hashes map a task id (or field) to the stored string."""

    tasks: Stream = field(default_factory=Stream)
    results: Stream = field(default_factory=Stream)
    dlq: Stream = field(default_factory=Stream)
    audit: Stream = field(default_factory=Stream)
    audit_head: dict[str, str] = field(default_factory=dict)
    audit_ids: dict[str, str] = field(default_factory=dict)
    """Event id → ``seq:hash`` of its record (each id is stored once)."""
    audit_pending: dict[str, str] = field(default_factory=dict)
    """Event id → event JSON waiting for the audit sinks."""
    ledger: dict[str, str] = field(default_factory=dict)
    committed: dict[str, str] = field(default_factory=dict)
    settled: dict[str, str] = field(default_factory=dict)
    review: dict[str, str] = field(default_factory=dict)
    cancelled: dict[str, str] = field(default_factory=dict)
    """Task id → who cancelled it, why and when (``records.cancellation``)."""
    quota: dict[str, str] = field(default_factory=dict)
    """The tenant's shared rate-limit state (token bucket, throttling)."""
    usage: dict[str, str] = field(default_factory=dict)
    """UTC day → LLM tokens of the Results published that day."""
    delayed: dict[str, float] = field(default_factory=dict)
    """Member (the task JSON) → due time in epoch seconds, as the sorted set holds it."""
    delayed_traces: dict[str, str] = field(default_factory=dict)
    """Task id → the trace context its delayed next attempt continues from."""
    sessions: set[str] = field(default_factory=set)
    session_hashes: dict[str, dict[str, str]] = field(default_factory=dict)
    session_tasks: dict[str, set[str]] = field(default_factory=dict)
    """Session id → the ids of every task submitted into it."""

    def session(self, session_id: str) -> dict[str, str]:
        """The hash of ``session_id`` (created empty, as HINCRBY would).

        Raises:
            ValueError: an id that could not be part of a Redis key name.
        """
        if not is_safe_id(session_id):
            raise ValueError(f"unsafe session id {session_id!r}")
        return self.session_hashes.setdefault(session_id, {})

    def keep_trace(self, task_id: str, traceparent: str | None) -> None:
        """Remember (or forget) the trace context a delayed next attempt continues from."""
        if traceparent:
            self.delayed_traces[task_id] = traceparent
        else:
            self.delayed_traces.pop(task_id, None)

    def count(self, session_id: str, counter: str, by: int = 1) -> None:
        """HINCRBY on a session counter."""
        fields = self.session(session_id)
        fields[counter] = str(int(fields.get(counter, "0")) + by)


class MemoryStore:
    """What the fakes share: tenants' data, a clock, planned faults, and a wake-up for readers.

    Args:
        clock: epoch seconds; entry ids, idle times and due times come from it. Pass a
            :class:`~chimera.testing.fakes.clock.ManualClock` to move time by hand.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.faults = Faults()
        self.tenants: dict[str, TenantData] = {}
        self._added = asyncio.Event()

    def tenant(self, name: str) -> TenantData:
        """The data of tenant ``name`` (created empty on first use).

        Raises:
            ValueError: an id that could not be part of a Redis key name.
        """
        data = self.tenants.get(name)
        if data is None:
            if not is_safe_id(name):
                raise ValueError(f"unsafe tenant id {name!r}")
            data = self.tenants[name] = TenantData()
        return data

    def now_ms(self) -> float:
        """The clock in milliseconds."""
        return self.clock() * 1000.0

    def added(self) -> None:
        """Wake readers blocked waiting for new entries."""
        self._added.set()
        self._added = asyncio.Event()

    async def wait_for_entries(self, block_ms: int) -> None:
        """Wait (real time) until an entry is added anywhere, or ``block_ms`` has passed."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._added.wait(), block_ms / 1000.0)
