"""Reading task submissions from ``--input`` text and JSONL files.

Every problem is one line naming where it is (``FILE:LINE[:COL]`` or ``--input``), and a
Submission remembers that place so the Planner's own checks name it too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from chimera.cli.errors import InputError
from chimera.services.planner import Submission

_FIELDS = {"tenant", "skill", "input", "session"}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(text: str, where: str) -> Any:
    """Parse JSON text strictly; ``where`` prefixes error messages.

    Raises:
        InputError: not JSON (with the column), ``NaN``/``Infinity``, or nested so deep
            the parser gives up.
    """
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}:{exc.colno}: invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise InputError(f"{where}: invalid JSON: nested too deeply") from None
    except ValueError as exc:
        raise InputError(f"{where}: invalid JSON: {exc}") from None


def parse_submission(text: str, where: str, defaults: dict[str, str] | None = None) -> Submission:
    """Parse one JSON object into a Submission; ``where`` prefixes error messages."""
    data = parse_json(text, where)
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a JSON object")
    merged = {**(defaults or {}), **data}
    unknown = sorted(set(merged) - _FIELDS)
    if unknown:
        raise InputError(
            f"{where}: unknown field(s) {', '.join(unknown)}; expected {sorted(_FIELDS)}"
        )
    missing = [name for name in ("tenant", "skill", "input") if name not in merged]
    if missing:
        raise InputError(f"{where}: missing field(s) {', '.join(missing)}")
    return Submission(
        tenant=str(merged["tenant"]),
        skill=str(merged["skill"]),
        input=merged["input"],
        session=merged.get("session"),
        where=where,
    )


def input_object(text: str) -> dict[str, Any]:
    """The ``--input`` of ``chimera submit``: a JSON object, the task's input."""
    value = parse_json(text, "--input")
    if not isinstance(value, dict):
        raise InputError("--input must be a JSON object")
    return value


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(number, text)`` of each line of ``path``, decoded as UTF-8 one line at a time."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            try:
                yield number, raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(
                    f"{path}:{number}:{exc.start + 1}: not UTF-8 text (byte 0x{raw[exc.start]:02x})"
                ) from None


def read_submissions(path: Path, defaults: dict[str, str] | None = None) -> list[Submission]:
    """Every submission of a JSONL file, one per non-blank line.

    Raises:
        InputError: unreadable, not UTF-8, a bad line (named ``FILE:LINE``), or no
            submission at all — an empty file is a mistake, not a run of nothing.
    """
    found = [
        parse_submission(text, f"{path}:{number}", defaults)
        for number, text in _lines(path)
        if text.strip()
    ]
    if not found:
        raise InputError(f"{path}: no tasks in this file")
    return found
