"""A clock a test moves by hand."""

from __future__ import annotations


class ManualClock:
    """Epoch seconds that only move when told: ``clock()`` reads, ``advance(s)`` moves.

    Give it to a :class:`~chimera.testing.fakes.store.MemoryStore` (idle times, due times,
    entry ids) and to the service under test, and leases expire without anyone sleeping.
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        """The current time, epoch seconds."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        if seconds < 0:
            raise ValueError("a clock does not go back")
        self.now += seconds
