"""The time part of a ULID, as text: task ids are ULIDs, so their age can be read off them.

A ULID's first ten characters are its millisecond timestamp in Crockford's base 32, and sort
as text in time order; a Lua script can therefore tell "submitted before T" by comparing an
id with :func:`time_prefix` of T, without decoding anything.
"""

from __future__ import annotations

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_TIME_CHARS = 10


def time_prefix(epoch_s: float) -> str:
    """The ten-character ULID time prefix of ``epoch_s`` (clamped at the epoch)."""
    ms = max(0, int(epoch_s * 1000))
    chars = []
    for _ in range(_TIME_CHARS):
        ms, digit = divmod(ms, 32)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))


def prefix_time(prefix: str) -> float:
    """Seconds since the epoch of a ULID (or its time prefix).

    Raises:
        ValueError: a character outside the alphabet.
    """
    ms = 0
    for char in prefix[:_TIME_CHARS].upper():
        ms = ms * 32 + _ALPHABET.index(char)
    return ms / 1000
