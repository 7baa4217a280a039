"""Reading task submissions from JSONL files, with line numbers in every error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from chimera.cli.errors import InputError
from chimera.services.planner import Submission

_FIELDS = {"tenant", "skill", "input", "session"}


def parse_submission(text: str, where: str, defaults: dict[str, str] | None = None) -> Submission:
    """Parse one JSON object into a Submission; ``where`` prefixes error messages."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}:{exc.colno}: invalid JSON: {exc.msg}") from None
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
    )


def iter_submissions(path: Path, defaults: dict[str, str] | None = None) -> Iterator[Submission]:
    """Yield a Submission per non-blank line of ``path``."""
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    with handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield parse_submission(line, f"{path}:{number}", defaults)


def read_submissions(path: Path, defaults: dict[str, str] | None = None) -> list[Submission]:
    """Read every submission of a JSONL file."""
    return list(iter_submissions(path, defaults))
