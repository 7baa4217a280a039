"""Structured logging: readable on a terminal, JSON lines elsewhere, secrets redacted."""

from __future__ import annotations

import functools
import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

import structlog

from chimera.lib.secret_values import REDACTED, redact_known


class _Levels:
    """Whether DEBUG lines are wanted, as a plain attribute: the hot path's cheapest check."""

    debug = False


_levels = _Levels()

#: Keys whose values are secrets wherever they appear in an event, at any depth.
_SECRET_KEY = re.compile(
    r"(?i)(^|[_-])(pass(word|wd)?|secret|token|api[_-]?key|apikey|authorization|"
    r"credentials?|private[_-]?key|cookie)$"
)
#: Secret-looking material inside free text: bearer tokens, provider keys, URL passwords.
_SECRET_TEXT = [
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 " + REDACTED),
    (re.compile(r"\b(sk|pk|rk|ghp|gho|xox[abp])[-_][A-Za-z0-9_-]{12,}"), REDACTED),
    (re.compile(r"(?i)\b(api[_-]?key|token|password|secret)=([^\s&]+)"), r"\1=" + REDACTED),
    (re.compile(r"(\w+://[^:/\s]*:)[^@/\s]+@"), r"\1" + REDACTED + "@"),
]


#: Text that none of :data:`_SECRET_TEXT` can match is left alone after this one search:
#: most log values are ids, numbers and plain words, and four substitutions each cost more.
_MAYBE_SECRET = re.compile(
    r"(?i)bearer|basic|sk[-_]|pk[-_]|rk[-_]|gh[op][-_]|xox|api|token|pass|secret|://"
)


@functools.lru_cache(maxsize=4096)
def _secret_key(key: str) -> bool:
    return bool(_SECRET_KEY.search(key))


def redact_value(value: Any, key: str | None = None) -> Any:
    """Return ``value`` with secrets replaced, looking into dicts, lists and strings."""
    if key is not None and _secret_key(key) and value not in (None, ""):
        return REDACTED
    if isinstance(value, str):
        value = redact_known(value)
        if not _MAYBE_SECRET.search(value):
            return value
        for pattern, replacement in _SECRET_TEXT:
            value = pattern.sub(replacement, value)
        return value
    if value is None or isinstance(value, int | float | bool):
        return value
    if isinstance(value, Mapping):
        return {k: redact_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        # A plain list/tuple: rebuilding a subclass (a namedtuple) would raise mid-log.
        return (list if isinstance(value, list) else tuple)(redact_value(v) for v in value)
    return value


def redact_text(text: str) -> str:
    """``text`` without the secrets this process knows of, nor secret-shaped material.

    For text chimera stores or shows that came from elsewhere: a backend's or a tool's
    error message, an exception's words.
    """
    return str(redact_value(text))


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Structlog processor: redact secrets by key name and by shape, at any depth."""
    for key in list(event_dict):
        event_dict[key] = redact_value(event_dict[key], key)
    return event_dict


def configure_logging(
    level: str = "INFO", json: bool | None = None, stream: TextIO | None = None
) -> None:
    """Set up structlog once for the process.

    Args:
        level: minimum level name (``DEBUG``, ``INFO``, ``WARNING``...).
        json: JSON lines when true, a readable console format when false; by default JSON
            unless ``stream`` is a terminal.
        stream: where logs go; standard error by default so stdout stays for results.
    """
    out = stream or sys.stderr
    _levels.debug = level.upper() == "DEBUG"
    as_json = not out.isatty() if json is None else json
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_secrets,  # after format_exc_info, so tracebacks are redacted too
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        # One write per line (the line and its newline together): worker processes of one
        # supervisor share its stderr, and print()'s two writes let their lines interleave.
        logger_factory=structlog.WriteLoggerFactory(out),
        cache_logger_on_first_use=False,
    )


def bind_task_context(
    tenant: str | None = None,
    session: str | None = None,
    task_id: str | None = None,
    trace_id: str | None = None,
) -> None:
    """Bind the ids of the work at hand to every log line in this asyncio task/thread."""
    values = {"tenant": tenant, "session": session, "task_id": task_id, "trace_id": trace_id}
    structlog.contextvars.bind_contextvars(**{k: v for k, v in values.items() if v is not None})


def debug_enabled() -> bool:
    """Whether DEBUG lines are written: guard any DEBUG line that costs work to build.

    A filtered-out structlog call is cheap but not free (a lazy logger binds on every
    call, and its arguments are built first); the Worker's per-task lines check this.
    """
    return _levels.debug


def get_logger(name: str) -> Any:
    """Return a structlog logger named ``name``."""
    return structlog.get_logger(name)
