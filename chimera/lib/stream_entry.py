"""One stream entry, as Redis stored it, turned into a :class:`Delivery` on its own.

Streams are read without decoding (``NEVER_DECODE``): a client that decodes every reply
fails a whole ``XREADGROUP`` — every tenant's entries with it — on one entry that is not
UTF-8. Here each entry is decoded by itself, and one that cannot be becomes a Delivery with
no message, the reason in ``problem`` and a bounded, escaped excerpt of its bytes in ``raw``,
so the consumer dead-letters or rejects it with that reason and keeps going.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TypeVar

from pydantic import ValidationError

from chimera.lib.decoded import DecodedCache
from chimera.lib.fields import BODY, TRACEPARENT
from chimera.models.result import Result
from chimera.models.task import Task
from chimera.models.types import MAX_PAYLOAD_BYTES, MAX_TEXT_CHARS
from chimera.ports.queue import Delivery

M = TypeVar("M", Task, Result)

#: The largest body worth parsing: a valid Task or Result is at most its payload, a few
#: bounded texts and its ids. Anything longer is refused without reading it as JSON.
MAX_BODY_BYTES = 2 * MAX_PAYLOAD_BYTES + 4 * MAX_TEXT_CHARS
#: How many bytes of an undecodable body are kept (escaped, so at most ~4 KiB of text).
EXCERPT_BYTES = 1024
#: Longest description of why an entry could not be decoded.
MAX_PROBLEM_CHARS = 500

_BODY_BYTES = BODY.encode()
_TRACEPARENT_BYTES = TRACEPARENT.encode()
#: Longer than any W3C ``traceparent`` (55 characters in version 00) with room to spare.
_MAX_TRACEPARENT = 128
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def excerpt(data: bytes) -> str:
    """The first :data:`EXCERPT_BYTES` of ``data`` as text, undecodable bytes escaped.

    A longer ``data`` ends with a note of its full size, so a dead letter of a 50 MB body
    stays a few KiB and still says what it was.
    """
    head = data[:EXCERPT_BYTES].decode("utf-8", errors="backslashreplace")
    # Control characters too: an excerpt is shown on terminals (``chimera dlq list``).
    head = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", head)
    if len(data) <= EXCERPT_BYTES:
        return head
    return f"{head}… [{len(data)} bytes in all]"


def decode_entry(
    model: type[M],
    tenant: str,
    entry_id: bytes | str,
    fields: Mapping[bytes, bytes] | Mapping[str, str | bytes],
    deliveries: int,
    known: DecodedCache | None = None,
    keep: bool = False,
) -> Delivery[M]:
    """Decode one entry's ``body`` field as ``model``, never raising.

    Args:
        model: ``Task`` or ``Result``.
        tenant: the tenant whose stream it was read from.
        entry_id: its stream id (bytes when read undecoded).
        fields: its fields as read (bytes, or text from the in-memory fake).
        deliveries: its delivery count.
        known: models this process validated, by their text: a body found there is not
            validated again.
        keep: keep the model validated here in ``known`` (its text will be read again
            in this process: a task's body is its ledger row, which the Judge reads).

    Returns:
        A Delivery whose ``message`` is the decoded model and ``raw`` the body as stored;
        or, when the entry cannot be decoded, ``message=None``, ``problem`` saying why and
        ``raw`` a bounded excerpt.
    """
    entry = entry_id.decode("ascii", errors="replace") if isinstance(entry_id, bytes) else entry_id
    body = _body(fields)
    problem: str
    if body is None:
        names = sorted(_name(key) for key in fields)
        problem = f"entry has no {BODY!r} field (fields: {', '.join(names)[:200] or 'none'})"
        return _undecodable(tenant, entry, deliveries, problem, b"")
    if len(body) > MAX_BODY_BYTES:
        problem = f"body is {len(body)} bytes, more than any valid {model.__name__} can be"
        return _undecodable(tenant, entry, deliveries, problem, body)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        problem = f"body is not UTF-8 (byte 0x{body[exc.start]:02x} at offset {exc.start})"
        return _undecodable(tenant, entry, deliveries, problem, body)
    message = known.take(text, model) if known is not None else None
    if message is None:
        try:
            message = model.model_validate_json(text)
        except ValidationError as exc:
            problem = f"body is not a valid {model.__name__}: {_summary(exc)}"
            return _undecodable(tenant, entry, deliveries, problem, body)
        if keep and known is not None:
            known.remember(text, message)
    return Delivery(
        tenant=tenant,
        entry_id=entry,
        message=message,
        deliveries=deliveries,
        raw=text,
        traceparent=_traceparent(fields),
    )


def _traceparent(fields: Mapping[bytes, bytes] | Mapping[str, str | bytes]) -> str | None:
    """The entry's trace context if it is plain short ASCII (the tracer checks the rest)."""
    for key, value in fields.items():
        if key in (TRACEPARENT, _TRACEPARENT_BYTES):
            data = value if isinstance(value, bytes) else as_bytes(value)
            if 0 < len(data) <= _MAX_TRACEPARENT and data.isascii():
                text = data.decode("ascii")
                return text if text.isprintable() else None
    return None


def _body(fields: Mapping[bytes, bytes] | Mapping[str, str | bytes]) -> bytes | None:
    for key, value in fields.items():
        if key in (BODY, _BODY_BYTES):
            return value if isinstance(value, bytes) else as_bytes(value)
    return None


def as_bytes(text: str) -> bytes:
    """``text`` as the bytes it stands for.

    Bytes kept with ``surrogateescape`` (how the in-memory fake stores what is not UTF-8)
    come back as they were.
    """
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # other lone surrogates: bytes that are not UTF-8 either
        return text.encode("utf-8", "surrogatepass")


def _name(key: bytes | str) -> str:
    return excerpt((key if isinstance(key, bytes) else as_bytes(key))[:40])


def _summary(exc: ValidationError) -> str:
    """The first few errors by place and message.

    Never the input values: they may be huge, or secret.
    """
    parts = []
    for error in exc.errors(include_url=False, include_input=False)[:3]:
        where = ".".join(str(p) for p in error["loc"]) or "(root)"
        parts.append(f"{where}: {error['msg']}")
    more = exc.error_count() - len(parts)
    summary = "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")
    return summary[:MAX_PROBLEM_CHARS]


def _undecodable(
    tenant: str, entry_id: str, deliveries: int, problem: str, body: bytes
) -> Delivery[M]:
    return Delivery(
        tenant=tenant,
        entry_id=entry_id,
        message=None,
        deliveries=deliveries,
        raw=excerpt(body),
        problem=problem[:MAX_PROBLEM_CHARS],
    )
