"""Pure helpers: reading a chat-completions answer, its confidence and ``Retry-After``.

Nothing here does I/O, so each rule is tested on its own.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

#: A whole answer wrapped in a Markdown code fence (```json ... ```), as models often write.
_FENCE_WHOLE = re.compile(r"\A```[A-Za-z0-9_-]*[ \t]*\r?\n?(?P<body>.*?)\r?\n?```\Z", re.DOTALL)
#: The first fenced block inside a longer answer ("Here is the JSON: ```json ... ```").
_FENCE_INSIDE = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\r?\n(?P<body>.*?)\r?\n?```", re.DOTALL)
#: What OpenAI accepts as ``response_format.json_schema.name``.
_SCHEMA_NAME_BAD = re.compile(r"[^A-Za-z0-9_-]")


class OutputError(ValueError):
    """The model's text is not a JSON object."""


def schema_name(skill: str) -> str:
    """Turn a skill name into a valid ``json_schema.name`` (``[A-Za-z0-9_-]{1,64}``)."""
    return _SCHEMA_NAME_BAD.sub("_", skill)[:64] or "output"


def strip_fences(text: str) -> str:
    """Return the JSON inside a Markdown code fence, or ``text`` stripped when there is none."""
    text = text.strip()
    whole = _FENCE_WHOLE.match(text)
    if whole:
        return whole.group("body").strip()
    if text.startswith(("{", "[")):
        return text
    inside = _FENCE_INSIDE.search(text)
    return inside.group("body").strip() if inside else text


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_object(content: str) -> dict[str, Any]:
    """Parse the model's text as one JSON object (fences stripped).

    Raises:
        OutputError: the text is not JSON (``NaN`` and ``Infinity`` included), or is JSON
            but not an object.
    """
    text = strip_fences(content)
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        excerpt = text[:200] + ("..." if len(text) > 200 else "")
        raise OutputError(f"the answer is not valid JSON ({exc}): {excerpt!r}") from None
    if not isinstance(value, dict):
        raise OutputError(f"the answer is a JSON {_json_type(value)}, not an object")
    return value


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


def message_text(message: Any) -> str | None:
    """The text of a chat message: its ``content`` string, or its text parts joined."""
    if not isinstance(message, Mapping):
        return None
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            part["text"]
            for part in content
            if isinstance(part, Mapping) and isinstance(part.get("text"), str)
        ]
        return "".join(parts) if parts else None
    return None


def logprob_confidence(choice: Mapping[str, Any]) -> float | None:
    """``exp(mean logprob)`` of the content tokens of ``choice``, in [0, 1], if it has any.

    This is the geometric mean of the token probabilities: 1.0 when the model was certain
    of every token, lower as it hesitated. Tokens without a finite logprob are skipped.
    """
    logprobs = choice.get("logprobs")
    if not isinstance(logprobs, Mapping):
        return None
    tokens = logprobs.get("content")
    if not isinstance(tokens, list):
        return None
    values = [
        float(token["logprob"])
        for token in tokens
        if isinstance(token, Mapping)
        and isinstance(token.get("logprob"), int | float)
        and not isinstance(token.get("logprob"), bool)
        and math.isfinite(token["logprob"])
    ]
    if not values:
        return None
    return min(1.0, max(0.0, math.exp(sum(values) / len(values))))


def take_self_reported(
    output: dict[str, Any], field: str, schema: Mapping[str, Any]
) -> float | None:
    """Take the model's own confidence from ``output[field]`` when it is a number in [0, 1].

    The field is removed from ``output`` (it is about the answer, not part of it) unless
    the output schema declares it as a property, in which case it stays. A value that is
    not a number in [0, 1] is left where it is and ignored.
    """
    value = output.get(field)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        return None
    properties = schema.get("properties")
    if not (isinstance(properties, Mapping) and field in properties):
        del output[field]
    return float(value)


def retry_after(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds the server asks us to wait, from ``retry-after-ms`` or ``Retry-After``.

    ``Retry-After`` may be a number of seconds or an HTTP date; a date in the past means
    0. Returns ``None`` when there is no usable header.
    """
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            value = float(millis) / 1000.0
        except ValueError:
            value = math.nan
        if math.isfinite(value):
            return max(0.0, value)
    raw = headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        value = float(raw)
    except ValueError:
        pass
    else:
        return max(0.0, value) if math.isfinite(value) else None
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def server_message(body: Any) -> str:
    """The human-readable error of an OpenAI-style error body, if there is one."""
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping) and isinstance(error.get("message"), str):
            return str(error["message"])
        if isinstance(error, str):
            return error
        if isinstance(body.get("message"), str):
            return str(body["message"])
        detail = body.get("detail")
        if isinstance(detail, str):
            return detail
        if isinstance(detail, list):  # FastAPI's request-validation body
            return "; ".join(_validation_item(item) for item in detail if isinstance(item, Mapping))
    return ""


def _validation_item(item: Mapping[str, Any]) -> str:
    loc = item.get("loc")
    where = ".".join(str(part) for part in loc) if isinstance(loc, list | tuple) else ""
    message = str(item.get("msg", ""))
    return f"{where}: {message}" if where else message


def token_count(usage: Any, key: str) -> int:
    """A non-negative token count from a ``usage`` object; 0 when absent or malformed."""
    if not isinstance(usage, Mapping):
        return 0
    value = usage.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    return max(0, value)
