"""Standard streams that write every byte: short writes retried, a non-blocking fd waited on."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from chimera.cli import stdio
from chimera.cli.stdio import CompleteWriter, complete_standard_streams

SIZE = 1_000_000  # far more than a pipe holds (64 KiB)


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    read_fd, write_fd = os.pipe()
    yield read_fd, write_fd
    for fd in (read_fd, write_fd):
        with contextlib.suppress(OSError):
            os.close(fd)


def drain_later(fd: int, into: bytearray) -> threading.Thread:
    """Read ``fd`` to its end in a thread that starts reading only after a pause."""

    def read() -> None:
        time.sleep(0.3)  # let the writer fill the pipe first
        while chunk := os.read(fd, 65536):
            into.extend(chunk)

    thread = threading.Thread(target=read)
    thread.start()
    return thread


def test_every_byte_reaches_a_slow_reader_through_a_non_blocking_pipe(
    pipe: tuple[int, int],
) -> None:
    read_fd, write_fd = pipe
    os.set_blocking(write_fd, False)  # a plain os.write would stop at 64 KiB (EAGAIN)
    received = bytearray()
    reader = drain_later(read_fd, received)
    out = io.TextIOWrapper(CompleteWriter(write_fd), encoding="utf-8", write_through=True)
    out.write("x" * SIZE)
    out.flush()
    os.close(write_fd)
    reader.join()
    assert len(received) == SIZE


def test_the_writer_says_what_its_descriptor_is(pipe: tuple[int, int]) -> None:
    _, write_fd = pipe
    writer = CompleteWriter(write_fd)
    assert (writer.writable(), writer.fileno(), writer.isatty()) == (True, write_fd, False)
    assert writer.write(b"abc") == 3
    writer.close()
    os.write(write_fd, b"still open")  # closing the writer leaves the descriptor alone


def test_only_unbuffered_streams_are_replaced(
    pipe: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, write_fd = pipe
    raw = io.TextIOWrapper(io.FileIO(write_fd, "w", closefd=False), write_through=True)
    buffered = io.TextIOWrapper(io.BufferedWriter(io.FileIO(write_fd, "w", closefd=False)))
    monkeypatch.setattr(sys, "stdout", raw)
    monkeypatch.setattr(sys, "stderr", buffered)
    complete_standard_streams()
    assert isinstance(sys.stdout.buffer, CompleteWriter)
    assert sys.stdout.buffer.fileno() == write_fd
    assert sys.stdout.encoding == raw.encoding
    assert sys.stderr is buffered
    captured = io.StringIO()
    assert stdio._complete(captured) is captured  # not a real descriptor: left alone


#: A command that prints a large text right after its event loop closed, four times, run
#: through the real entry point (``chimera.cli.main``) in a subprocess with
#: ``PYTHONUNBUFFERED=1``. (Four rounds because the loop's teardown that interrupts the
#: write is asynchronous: one round alone sometimes misses it.)
LOOP_THEN_PRINT = """
import sys
import click
from chimera.cli import main
from chimera.cli.app import cli
from chimera.cli.runtime import run_async

@cli.command("loop-then-print")
def loop_then_print() -> None:
    async def nothing() -> None:
        return None
    for _ in range(4):
        run_async(nothing())
        click.echo("x" * 100_000)

sys.argv = ["chimera", "loop-then-print"]
main()
"""


#: Reads 64 KiB at a time with a pause before each read, so that every write blocks.
SLOW_READER = """
import os, sys, time
total = 0
while True:
    time.sleep(0.2)
    chunk = os.read(0, 65536)
    if not chunk:
        break
    total += len(chunk)
print(total)
"""


def test_output_printed_after_an_event_loop_reaches_a_slow_pipe_reader_whole() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    writer = subprocess.Popen(
        [sys.executable, "-c", LOOP_THEN_PRINT], env=env, stdout=subprocess.PIPE
    )
    reader = subprocess.Popen(
        [sys.executable, "-c", SLOW_READER],
        stdin=writer.stdout,
        stdout=subprocess.PIPE,
    )
    assert writer.stdout is not None
    writer.stdout.close()
    assert writer.wait(timeout=60) == 0
    out, _ = reader.communicate(timeout=60)
    assert int(out) == 4 * 100_001  # with the newlines; without the fix some are cut short
