"""The settled row: how a task ended, stored as a word under its id in ``{T}:settled``.

Written by ``JUDGE_APPLY``, ``REVIEW_DECIDE`` and ``DEAD_LETTER_TASK``; removed by
``REPLAY_DEAD_LETTER``.
"""

from __future__ import annotations

from chimera.lib.fields import Settled
from chimera.lib.records import RecordError


def encode(state: Settled) -> str:
    """The stored word for ``state``."""
    return state.value


def decode(text: str) -> Settled:
    """Read a settled row.

    Raises:
        RecordError: a word chimera does not write.
    """
    try:
        return Settled(text)
    except ValueError:
        known = ", ".join(s.value for s in Settled)
        raise RecordError(f"settled row {text!r} is none of {known}") from None
