"""Reading a YAML file's text: bounded in size, UTF-8, and only characters YAML allows.

Each check names the exact place at fault (line and column, and for undecodable bytes
their offset), so a user can find a stray byte pasted from a terminal or a Latin-1 file.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from chimera.config.errors import ConfigError, Problem
from chimera.config.limits import MAX_FILE_BYTES

#: Characters YAML 1.1 accepts in a stream (the set PyYAML's reader checks), negated.
_NOT_PRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)


def read_yaml_text(path: Path) -> str:
    """Return the text of ``path``, checked to be something a YAML parser may read.

    Raises:
        ConfigError: the file cannot be read, is not a regular file, is larger than
            :data:`~chimera.config.limits.MAX_FILE_BYTES`, is not UTF-8, or holds a
            character YAML does not allow (NUL, ESC, other control characters).
    """
    data = _read_bytes(path)
    skip = 3 if data.startswith(b"\xef\xbb\xbf") else 0  # a UTF-8 byte order mark
    try:
        text = data[skip:].decode("utf-8")
    except UnicodeDecodeError as exc:
        start = exc.start + skip
        line, col = _byte_position(data, start)
        raise ConfigError(
            [
                Problem(
                    path,
                    line,
                    col,
                    f"not valid UTF-8: byte 0x{data[start]:02x} at offset {start} "
                    "(save the file as UTF-8)",
                )
            ]
        ) from None
    bad = _NOT_PRINTABLE.search(text)
    if bad is not None:
        index = bad.start()
        line = text.count("\n", 0, index) + 1
        col = index - (text.rfind("\n", 0, index) + 1) + 1
        char = bad.group()
        message = f"character U+{ord(char):04X} is not allowed in YAML"
        raise ConfigError([Problem(path, line, col, message)])
    return text


def _read_bytes(path: Path) -> bytes:
    try:
        # Non-blocking, so that a named pipe given as a swarm file is refused, not waited on.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise ConfigError([Problem(path, 1, 1, "not a regular file")])
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError([Problem(path, 1, 1, f"cannot read file: {reason}")]) from None
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(
            [
                Problem(
                    path,
                    1,
                    1,
                    f"file is larger than {MAX_FILE_BYTES // 1024} KiB; "
                    "a configuration file should be far smaller",
                )
            ]
        )
    return data


def _byte_position(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column (in characters) of byte ``offset``."""
    line_start = data.rfind(b"\n", 0, offset) + 1
    prefix = data[line_start:offset].decode("utf-8", errors="replace")
    return data.count(b"\n", 0, offset) + 1, len(prefix) + 1
