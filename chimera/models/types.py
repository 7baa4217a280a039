"""Shared value types: JSON values, identifiers and the limits every message obeys."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, JsonValue, StringConstraints
from pydantic_core import PydanticSerializationError, to_json
from ulid import ULID

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "MAX_PAYLOAD_DEPTH",
    "MAX_TEXT_CHARS",
    "SAFE_ID_PATTERN",
    "JsonObject",
    "JsonValue",
    "SessionId",
    "SkillName",
    "TaskId",
    "TenantId",
    "TraceId",
    "check_payload_size",
    "new_id",
    "new_trace_id",
    "utc_now",
]

#: Tenant, session and skill names go into Redis key names, so they may not hold the
#: characters that carry meaning there (``{`` ``}`` for hash tags, ``:`` as separator).
SAFE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_SAFE_ID = re.compile(SAFE_ID_PATTERN)

#: Deepest nesting of objects and arrays accepted in a payload. pydantic parses JSON only
#: to about 200 levels, so a deeper payload could be enqueued but never read back.
MAX_PAYLOAD_DEPTH = 64

#: Upper bound for the JSON of one task input or result output. Redis copes with far
#: more, but a stream entry this large is almost always a bug upstream (a whole document
#: pasted into a field) and would stall every consumer reading the same batch.
MAX_PAYLOAD_BYTES = 256 * 1024

TenantId = Annotated[str, StringConstraints(pattern=SAFE_ID_PATTERN)]
SessionId = Annotated[str, StringConstraints(pattern=SAFE_ID_PATTERN)]
SkillName = Annotated[str, StringConstraints(pattern=SAFE_ID_PATTERN)]
TaskId = Annotated[str, StringConstraints(pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$")]
TraceId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]


def check_payload_size(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """Reject a JSON object whose serialised form exceeds :data:`MAX_PAYLOAD_BYTES`.

    Args:
        value: the object to measure, or ``None``.

    Returns:
        The value unchanged.

    Raises:
        ValueError: if the object is too large.
    """
    if value is None:
        return value
    # pydantic_core's serializer is Rust: an order of magnitude cheaper than json.dumps on
    # the hot path, where every Task and Result passes through here. It refuses values
    # nested too deep for it on its own.
    try:
        encoded = to_json(value)
    except PydanticSerializationError:
        raise ValueError(f"payload nests deeper than {MAX_PAYLOAD_DEPTH} levels") from None
    size = len(encoded)
    if size > MAX_PAYLOAD_BYTES:
        raise ValueError(f"payload is {size} bytes; the limit is {MAX_PAYLOAD_BYTES}")
    # Nesting deeper than the limit takes more opening brackets than the limit; counting
    # bytes in C rules out almost every payload before walking one in Python.
    brackets = encoded.count(b"[") + encoded.count(b"{")
    if brackets > MAX_PAYLOAD_DEPTH and _depth(value) > MAX_PAYLOAD_DEPTH:
        raise ValueError(f"payload nests deeper than {MAX_PAYLOAD_DEPTH} levels")
    return value


def _depth(value: Any) -> int:
    """Nesting depth of a JSON value (a scalar is 0), without recursing in Python."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level + 1)
        if deepest > MAX_PAYLOAD_DEPTH:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest


#: Longest free text a message carries (feedback, an error, a reason). Text that a backend
#: or a human wrote can be long, but a stream entry is no place for a document.
MAX_TEXT_CHARS = 16_384

JsonObject = Annotated[dict[str, JsonValue], AfterValidator(check_payload_size)]


def is_safe_id(value: str) -> bool:
    """Tell whether ``value`` may be used as a tenant, session or skill name."""
    return bool(_SAFE_ID.fullmatch(value))


def new_id() -> str:
    """Return a new ULID: unique and sortable by creation time."""
    return str(ULID())


def new_trace_id() -> str:
    """Return a new W3C trace id (32 lowercase hex digits)."""
    return ULID().hex


def utc_now() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)
