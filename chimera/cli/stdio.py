"""Standard output and error that never lose what is written to them.

With ``PYTHONUNBUFFERED=1`` (common in containers) ``sys.stdout`` writes straight to the
file descriptor and ignores a short write: what the kernel did not take is dropped. A
blocking write to a pipe comes back short when the process is interrupted while it waits
for the reader — and after a uvloop event loop has run, it is: libuv tears its io_uring
instance down asynchronously when the loop closes, and that interrupts the next write that
blocks (measured: 65,536 of 145,216 bytes arrived, the rest silently lost, exit 0; the
descriptor itself stays in blocking mode). So ``chimera submit --file F --json | jq``
printed a cut-off document for a few thousand tasks.

:func:`complete_standard_streams` puts a writer under ``sys.stdout`` and ``sys.stderr``
that keeps writing until every byte is taken, whatever interrupted it and whether or not
the descriptor is non-blocking. Buffered streams (the default without
``PYTHONUNBUFFERED``) already retry short writes and are left alone.
"""

from __future__ import annotations

import io
import os
import select
import sys
from typing import Any


class CompleteWriter(io.RawIOBase):
    """A raw, unbuffered writer on ``fd`` whose ``write`` returns only once all is written.

    Args:
        fd: the file descriptor to write to (not closed by this object).
    """

    def __init__(self, fd: int) -> None:
        super().__init__()
        self.fd = fd

    def writable(self) -> bool:
        """Always true: this object only writes."""
        return True

    def fileno(self) -> int:
        """The descriptor written to."""
        return self.fd

    def isatty(self) -> bool:
        """Whether the descriptor is a terminal (decides colours and table widths)."""
        return os.isatty(self.fd)

    def write(self, data: Any) -> int:
        """Write all of ``data``, however many short writes it takes.

        A descriptor left non-blocking by someone else is waited on until it is writable,
        so the data is never dropped with ``EAGAIN`` either.
        """
        view = memoryview(data).cast("B")
        done = 0
        while done < len(view):
            try:
                done += os.write(self.fd, view[done:])
            except BlockingIOError:
                select.select([], [self.fd], [])
        return done

    def close(self) -> None:
        """Mark closed; the descriptor stays open (it belongs to the process)."""
        super().close()


def _complete(stream: Any) -> Any:
    """``stream`` unchanged, or an equivalent text stream over a :class:`CompleteWriter`."""
    buffer = getattr(stream, "buffer", None)
    if not isinstance(stream, io.TextIOWrapper) or not isinstance(buffer, io.FileIO):
        return stream  # buffered (already retries short writes), or not a real descriptor
    stream.flush()
    return io.TextIOWrapper(
        CompleteWriter(buffer.fileno()),
        encoding=stream.encoding,
        errors=stream.errors,
        line_buffering=stream.line_buffering,
        write_through=True,
    )


def complete_standard_streams() -> None:
    """Make ``sys.stdout`` and ``sys.stderr`` write every byte (see the module docstring)."""
    sys.stdout = _complete(sys.stdout)
    sys.stderr = _complete(sys.stderr)
