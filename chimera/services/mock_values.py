"""Scalar values for the mock's output generator: numbers in range, strings, formats.

Each function raises ``ValueError`` with a short reason when no value it can build fits
the schema; the generator turns that into a ``CannotGenerate`` at the keyword at fault.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any

from chimera.services.mock_regex import RegexUnsupported, sample_regex

Pick = Callable[[str, int], int]

#: Candidates tried for a number that must also be a multiple of ``multipleOf``.
_MULTIPLE_TRIES = 200
#: Longest string the mock pads to reach ``minLength``.
MAX_LENGTH = 10_000


def number_in_range(schema: Mapping[str, Any], integer: bool, choice: int) -> int | float:
    """A number meeting the schema's bounds and ``multipleOf``, chosen by ``choice``."""
    low, low_strict = _bound(schema, "minimum", "exclusiveMinimum", lower=True)
    high, high_strict = _bound(schema, "maximum", "exclusiveMaximum", lower=False)
    step = schema.get("multipleOf")
    if isinstance(step, int | float) and not isinstance(step, bool) and step > 0:
        return _multiple(step, low, low_strict, high, high_strict, integer, choice)
    first = _first_int(low, low_strict)
    last = _last_int(high, high_strict)
    if first is None:
        first = 0 if last is None or last >= 0 else last - 100
    if last is None:
        last = first + 100
    if first <= last:
        value = first + choice % (last - first + 1)
        return value if integer else as_number(value)
    if integer:
        raise ValueError("no integer lies between the minimum and the maximum")
    return _between(low, low_strict, high, high_strict)


def integer_range(schema: Mapping[str, Any]) -> tuple[int, int] | None:
    """The integers ``number_in_range`` picks among, ``(first, last)``, when it picks so.

    ``None`` when the schema has a ``multipleOf`` or no integer lies in its range; then
    only :func:`number_in_range` says what it makes. Otherwise ``number_in_range`` gives
    ``first + choice % (last - first + 1)`` (as :func:`as_number` for a ``number``).
    """
    step = schema.get("multipleOf")
    if isinstance(step, int | float) and not isinstance(step, bool) and step > 0:
        return None
    first = _first_int(*_bound(schema, "minimum", "exclusiveMinimum", lower=True))
    last = _last_int(*_bound(schema, "maximum", "exclusiveMaximum", lower=False))
    if first is None:
        first = 0 if last is None or last >= 0 else last - 100
    if last is None:
        last = first + 100
    return (first, last) if first <= last else None


def _bound(
    schema: Mapping[str, Any], inclusive: str, exclusive: str, *, lower: bool
) -> tuple[Fraction | None, bool]:
    """The tightest bound on one side, as an exact fraction, and whether it is strict."""
    found: list[tuple[Fraction, bool]] = []
    plain = schema.get(inclusive)
    strict_flag = schema.get(exclusive) is True  # draft 4: a boolean beside the bound
    if isinstance(plain, int | float) and not isinstance(plain, bool):
        found.append((Fraction(plain), strict_flag))
    other = schema.get(exclusive)
    if isinstance(other, int | float) and not isinstance(other, bool):
        found.append((Fraction(other), True))
    if not found:
        return None, False
    # The tightest: the largest lower bound (strict first on a tie), or the smallest upper.
    return max(found) if lower else min(found, key=lambda b: (b[0], not b[1]))


def _first_int(low: Fraction | None, strict: bool) -> int | None:
    if low is None:
        return None
    return math.floor(low) + 1 if strict else math.ceil(low)


def _last_int(high: Fraction | None, strict: bool) -> int | None:
    if high is None:
        return None
    return math.ceil(high) - 1 if strict else math.floor(high)


def _inside(value: Fraction, low: Any, low_strict: bool, high: Any, high_strict: bool) -> bool:
    if low is not None and (value < low or (low_strict and value == low)):
        return False
    return not (high is not None and (value > high or (high_strict and value == high)))


def _between(
    low: Fraction | None, low_strict: bool, high: Fraction | None, high_strict: bool
) -> float:
    """A float strictly inside a range that holds no integer (``0.1 < x < 0.2``)."""
    assert low is not None
    assert high is not None
    middle = float((low + high) / 2)
    if _inside(Fraction(middle), low, low_strict, high, high_strict):
        return middle
    raise ValueError("no number lies between the minimum and the maximum")


def _multiple(
    step: int | float,
    low: Fraction | None,
    low_strict: bool,
    high: Fraction | None,
    high_strict: bool,
    integer: bool,
    choice: int,
) -> int | float:
    exact = Fraction(step)
    first = _first_int(None if low is None else low / exact, False)
    last = _last_int(None if high is None else high / exact, False)
    if first is None:
        first = 0 if last is None or last >= 0 else last - 100
    if last is None:
        last = first + 100
    span = last - first + 1
    if span <= 0:
        raise ValueError(f"no multiple of {step} lies between the minimum and the maximum")
    start = choice % span
    for offset in range(min(span, _MULTIPLE_TRIES)):
        k = first + (start + offset) % span
        candidate = k * exact
        if integer and candidate.denominator != 1:
            continue
        value: int | float = int(candidate) if candidate.denominator == 1 else float(candidate)
        if not integer:
            value = as_number(value)
        if _inside(Fraction(value), low, low_strict, high, high_strict) and _is_multiple(
            value, step
        ):
            return value
    raise ValueError(f"found no multiple of {step} between the minimum and the maximum")


def _is_multiple(value: int | float, step: int | float) -> bool:
    """``multipleOf`` exactly as jsonschema checks it (float division for float steps)."""
    if isinstance(step, float):
        try:
            quotient = value / step
            return int(quotient) == quotient
        except OverflowError:
            return (Fraction(value) / Fraction(step)).denominator == 1
    return value % step == 0


def as_number(value: int | float) -> int | float:
    """A float where that is exact, else the int (JSON numbers may be integers)."""
    if isinstance(value, int):
        as_float = float(value) if abs(value) < 2**53 else None
        return value if as_float is None else as_float
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# --- strings ------------------------------------------------------------------------------


def string_value(schema: Mapping[str, Any], pick: Pick, path: str, text: str) -> str:
    """A string meeting ``minLength``, ``maxLength`` and ``pattern`` (``text`` if it can)."""
    low = int(schema.get("minLength", 0))
    high = int(schema.get("maxLength", max(low, 1) + MAX_LENGTH))
    if low > MAX_LENGTH:
        raise ValueError("minLength is too large for the mock")
    if low > high:
        raise ValueError("minLength is above maxLength")
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        return _from_pattern(pattern, low, high, pick, path)
    return text.ljust(low, "x")[: max(high, 0)]


def _from_pattern(pattern: str, low: int, high: int, pick: Pick, path: str) -> str:
    tried: list[str] = []
    for attempt in range(8):
        choose = _Chooser(pick, f"{path}#{attempt}")
        try:
            text = sample_regex(pattern, choose, longest=attempt >= 4)
        except RegexUnsupported as exc:
            raise ValueError(f"pattern {pattern[:60]!r}: {exc}") from None
        if len(text) < low:  # pad where the pattern leaves the end open
            padded = text + "x" * (low - len(text))
            text = padded if re.search(pattern, padded) else text
        if low <= len(text) <= high:
            return text
        tried.append(text)
    raise ValueError(
        f"no string of length {low}..{high} found for pattern {pattern[:60]!r}"
        f" (tried {tried[0][:20]!r}…)"
    )


class _Chooser:
    """Numbered choices for the regex sampler, each its own seeded pick."""

    def __init__(self, pick: Pick, salt: str) -> None:
        self.pick = pick
        self.salt = salt
        self.calls = 0

    def __call__(self, n: int) -> int:
        self.calls += 1
        return self.pick(f"{self.salt}/{self.calls}", n)


# --- formats ------------------------------------------------------------------------------


def _date(n: int) -> str:
    return f"2024-{n % 12 + 1:02d}-{n % 28 + 1:02d}"


def _time(n: int) -> str:
    return f"{n % 24:02d}:{n % 60:02d}:{n // 60 % 60:02d}Z"


_FORMAT_VALUES: dict[str, Callable[[int, str], str]] = {
    "date": lambda n, _: _date(n),
    "time": lambda n, _: _time(n),
    "date-time": lambda n, _: f"{_date(n)}T{_time(n)}",
    "duration": lambda n, _: f"P{n % 30 + 1}D",
    "email": lambda n, name: f"{name}.{n % 1000}@example.com",
    "idn-email": lambda n, name: f"{name}.{n % 1000}@example.com",
    "hostname": lambda n, name: f"{name}-{n % 1000}.example.com",
    "idn-hostname": lambda n, name: f"{name}-{n % 1000}.example.com",
    "ipv4": lambda n, _: f"10.{n % 256}.{n // 256 % 256}.{n // 65536 % 254 + 1}",
    "ipv6": lambda n, _: f"fd00::{n % 65536:x}",
    "uri": lambda n, name: f"https://example.com/{name}/{n % 100000}",
    "uri-reference": lambda n, name: f"/{name}/{n % 100000}",
    "iri": lambda n, name: f"https://example.com/{name}/{n % 100000}",
    "iri-reference": lambda n, name: f"/{name}/{n % 100000}",
    "uri-template": lambda n, name: f"https://example.com/{name}/{{id}}",
    "uuid": lambda n, _: str(uuid.UUID(int=n * 0x9E3779B97F4A7C15 % (1 << 128), version=4)),
    "regex": lambda n, name: f"^{name}[0-9]*$",
    "json-pointer": lambda n, name: f"/{name}/{n % 10}",
    "relative-json-pointer": lambda n, name: f"{n % 10}/{name}",
}

#: Formats the mock generates values for.
FORMATS = frozenset(_FORMAT_VALUES)


def format_value(schema: Mapping[str, Any], pick: Pick, path: str) -> str:
    """A value in the schema's ``format`` that also meets its length and pattern."""
    name = re.sub(r"[^a-z0-9]+", "-", path.rsplit(".", 1)[-1].lower()).strip("-") or "mock"
    text = _FORMAT_VALUES[schema["format"]](pick(path, 1 << 48), name[:20])
    low = int(schema.get("minLength", 0))
    high = int(schema.get("maxLength", len(text)))
    pattern = schema.get("pattern")
    if not low <= len(text) <= high:
        raise ValueError(f"no {schema['format']} value of length {low}..{high}")
    if isinstance(pattern, str) and re.search(pattern, text) is None:
        raise ValueError(f"no {schema['format']} value matches pattern {pattern[:60]!r}")
    return text
