"""The secrets this process knows of, by value, so no text chimera writes repeats one.

Redacting by shape (``sk-…``, ``Bearer …``, ``password=…``) misses a key that looks like
anything else, echoed back by a server in an error message. So the process also remembers
the *values* of its secrets and replaces them wherever chimera writes text (log lines,
Result errors, dead letters, audit records, command output):

* environment variables whose name says secret (``*_API_KEY``, ``*_TOKEN``, ``*_SECRET``,
  ``*_PASSWORD``…): :func:`remember_environment`;
* every ``${VAR}`` a configuration file refers to: :func:`remember_references`;
* the password of a Redis URL: :func:`remember_url`.

Values shorter than :data:`MIN_CHARS` are not remembered: replacing every occurrence of a
two-letter value would make output unreadable, and such a value is no secret anyway.
The set is per process; it only grows.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, quote, unquote, urlsplit

#: What a remembered value is replaced with.
REDACTED = "[REDACTED]"
#: The shortest value remembered.
MIN_CHARS = 6

_SECRET_NAME = re.compile(
    r"(?i)(^|_)(API_?KEY|KEY|TOKEN|SECRET|PASSWORD|PASSWD|PASS|CREDENTIALS?)(_|$)"
)
#: ``${VAR}`` or ``${VAR:-default}``, not the escaped ``$${VAR}``.
_REFERENCE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")
#: Read at most this much of a configuration file looking for references.
_MAX_SCAN_BYTES = 4 * 1024 * 1024


class SecretValues:
    """A set of secret strings and the replacement of each in any text."""

    def __init__(self) -> None:
        self._values: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self._values)

    def add(self, values: Iterable[str | None]) -> None:
        """Remember each value (and its URL-quoted form) long enough to be a secret."""
        known = set(self._values)
        for value in values:
            if not value or len(value) < MIN_CHARS:
                continue
            known.add(value)
            known.add(quote(value, safe=""))
        # Longest first: a value that contains another is replaced whole.
        self._values = tuple(sorted(known, key=len, reverse=True))

    def redact(self, text: str) -> str:
        """``text`` with every remembered value replaced by :data:`REDACTED`."""
        for value in self._values:
            if value in text:
                text = text.replace(value, REDACTED)
        return text


_known = SecretValues()


def known() -> SecretValues:
    """The secrets this process has been told of."""
    return _known


def redact_known(text: str) -> str:
    """``text`` without any secret value this process knows of."""
    return _known.redact(text) if len(_known) else text


def remember(*values: str | None) -> None:
    """Remember ``values`` as secrets."""
    _known.add(values)


def secret_name(name: str) -> bool:
    """Whether an environment variable's name says it holds a secret."""
    return _SECRET_NAME.search(name) is not None


def remember_environment(environ: Mapping[str, str] | None = None) -> None:
    """Remember the value of every variable whose name says secret (``OPENAI_API_KEY``)."""
    env = os.environ if environ is None else environ
    _known.add(value for name, value in env.items() if secret_name(name))


def remember_references(text: str, environ: Mapping[str, str] | None = None) -> None:
    """Remember the value of every environment variable ``text`` refers to as ``${VAR}``."""
    env = os.environ if environ is None else environ
    _known.add(env.get(name) for name in set(_REFERENCE.findall(text)))


def remember_file_references(path: os.PathLike[str] | str) -> None:
    """:func:`remember_references` for a configuration file (unreadable: nothing to do)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(_MAX_SCAN_BYTES)
    except OSError:
        return
    remember_references(data.decode("utf-8", errors="replace"))


def remember_url(url: str | None) -> None:
    """Remember the password of a connection URL (also given as ``?password=``)."""
    if not url:
        return
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        # Not a URL one can split: remember what sits between ``:`` and ``@``, if anything.
        match = re.search(r"://[^:/@\s]*:([^@\s]+)@", url)
        _known.add([match.group(1), unquote(match.group(1))] if match else [])
        return
    found = [password, unquote(password) if password else None]
    found += [value for key, value in parse_qsl(parts.query) if key.lower() == "password"]
    _known.add(found)
