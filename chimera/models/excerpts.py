"""Bounded copies of a task's texts (input, prompt, raw answer, output) for its history.

The audit trail keeps what a task's story needs where no stored record does (the input
once the task settled, the prompt and answer of an attempt that failed or was not
committed); each is cut to :data:`MAX_STORY_CHARS` so one task never makes a large record.
"""

from __future__ import annotations

from pydantic_core import to_json

from chimera.models.types import JsonValue

#: Longest input, prompt, raw answer or output (as text) the audit trail keeps per attempt.
MAX_STORY_CHARS = 4000


def cut(text: str | None, limit: int = MAX_STORY_CHARS) -> str | None:
    """``text`` within ``limit`` characters; a cut one ends with a marker saying how much went.

    ``None`` stays ``None``; the marker counts towards the limit.
    """
    if text is None or len(text) <= limit:
        return text
    # Sized for the longest count it could name, so the marked text stays within the limit.
    keep = max(limit - len(_marker(len(text))), 0)
    return text[:keep] + _marker(len(text) - keep)


def _marker(dropped: int) -> str:
    return f"…[cut: {dropped} more characters]"


def json_text(value: JsonValue, limit: int = MAX_STORY_CHARS) -> str | None:
    """``value`` as JSON text, cut like :func:`cut` (``None`` stays ``None``)."""
    if value is None:
        return None
    return cut(to_json(value).decode(), limit)


def is_cut(text: str | None) -> bool:
    """True when ``text`` ends with the marker :func:`cut` adds."""
    return text is not None and text.endswith(" more characters]") and "…[cut: " in text
