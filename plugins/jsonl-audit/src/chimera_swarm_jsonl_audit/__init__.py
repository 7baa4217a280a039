"""The ``jsonl`` audit sink: one append-only, hash-chained JSON Lines file per tenant.

Each line is an :class:`~chimera.models.audit.AuditRecord` (``seq``, ``prev``, ``hash``,
``event``), so a tenant's file is numbered and chained exactly like the ``redis`` sink's
stream, and altering, removing or reordering a line breaks every later link.

``write`` returns only once the lines are written, flushed and ``fsync``-ed: the Judge
commits after it returns, and not at all if it raises. The blocking file work runs in a
thread (:func:`asyncio.to_thread`) so the event loop keeps serving other tasks, and one
:class:`asyncio.Lock` per file keeps this process's writes to it in call order. Files
are opened with ``O_APPEND`` and, on POSIX, held under ``flock`` while written, so several
processes on one machine may share a directory and each tenant's chain stays one line.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from chimera import (
    GENESIS_HASH,
    AuditEvent,
    AuditRecord,
    ChainCheck,
    ConfigError,
    PluginContext,
    Problem,
    SinkRegistrar,
    hookimpl,
    link_problem,
)

__all__ = [
    "DEFAULT_DIR",
    "ENV_VAR",
    "ChainCheck",
    "JsonlAuditSink",
    "audit_dir",
    "directory_problem",
    "read_chain",
    "register_audit_sinks",
]

#: Environment variable naming the directory of the audit files.
ENV_VAR = "CHIMERA_AUDIT_DIR"
#: Where the files go when neither the plugin settings nor the environment say.
DEFAULT_DIR = "audit"
#: File mode of new audit files (before the umask): the trail may hold tenant data.
_FILE_MODE = 0o640
_TAIL_CHUNK = 64 * 1024


@dataclass(frozen=True)
class _Head:
    """The end of a tenant's chain as this process last left it, and the file it is in."""

    device: int
    inode: int
    size: int
    seq: int
    hash: str


class JsonlAuditSink:
    """Appends audit events to ``<directory>/<tenant>.jsonl``, one record per line.

    Args:
        directory: where the files go. It is created if missing, but its parent must
            exist: a typo in the path fails the first write instead of scattering audit
            files somewhere unexpected.
    """

    name = "jsonl"

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory).absolute()
        self._locks: dict[str, asyncio.Lock] = {}
        self._heads: dict[str, _Head] = {}

    def path_for(self, tenant: str) -> Path:
        """The file holding ``tenant``'s audit trail."""
        return self.directory / f"{tenant}.jsonl"

    async def write(self, events: Sequence[AuditEvent]) -> None:
        """Append ``events`` to their tenants' files, in order, durably.

        Tenants are written concurrently, each in its own thread; the call returns (or
        raises) only once every one of them has finished.

        Raises:
            OSError: a file could not be created, written or synced.
            ValueError: a file's last line is not an audit record, so the chain cannot be
                extended without hiding that.
        """
        by_tenant: dict[str, list[AuditEvent]] = defaultdict(list)
        for event in events:
            by_tenant[event.tenant].append(event)
        outcomes = await asyncio.gather(
            *(self._write_tenant(tenant, batch) for tenant, batch in by_tenant.items()),
            return_exceptions=True,
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def _write_tenant(self, tenant: str, events: list[AuditEvent]) -> None:
        path = self.path_for(tenant)
        lock = self._locks.setdefault(str(path), asyncio.Lock())
        async with lock:
            await asyncio.to_thread(self._append, path, events)

    def _append(self, path: Path, events: list[AuditEvent]) -> None:
        """Blocking: lock the file, find the chain head, append the records, fsync."""
        created_dir = _ensure_directory(path.parent)
        key = str(path)
        try:
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL, _FILE_MODE)
            created = True
        except FileExistsError:
            fd = os.open(path, os.O_RDWR | os.O_APPEND)
            created = False
        try:
            _lock(fd)
            stat = os.fstat(fd)
            head = self._heads.get(key)
            if head is None or (head.device, head.inode, head.size) != (
                stat.st_dev,
                stat.st_ino,
                stat.st_size,
            ):
                # Another process appended, the file was replaced, or this is the first
                # write here: read the head from the file itself.
                self._heads.pop(key, None)
                seq, prev, size = _recover_head(fd, path, stat.st_size)
            else:
                seq, prev, size = head.seq, head.hash, head.size
            data = bytearray()
            for event in events:
                seq += 1
                body = event.model_dump_json()
                digest = AuditRecord.digest(prev, seq, body)
                record = AuditRecord(seq=seq, prev=prev, hash=digest, event=event)
                data += record.model_dump_json().encode() + b"\n"
                prev = digest
            _write_all(fd, bytes(data))
            os.fsync(fd)
            if created:
                _fsync_directory(path.parent)
            if created_dir:
                _fsync_directory(path.parent.parent)
            self._heads[key] = _Head(stat.st_dev, stat.st_ino, size + len(data), seq, prev)
        except BaseException:
            # Whatever reached the file unfinished is cut off by the next writer.
            self._heads.pop(key, None)
            raise
        finally:
            os.close(fd)  # closing the descriptor also releases the flock


def _ensure_directory(directory: Path) -> bool:
    """Create ``directory`` (not its parents); tell whether it was created."""
    try:
        os.mkdir(directory)
    except FileExistsError:
        if not directory.is_dir():
            raise NotADirectoryError(f"audit directory {directory} is not a directory") from None
        return False
    return True


if sys.platform != "win32":
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)

else:  # pragma: no cover - no flock on Windows; one process per directory there

    def _lock(fd: int) -> None:
        return None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_directory(directory: Path) -> None:
    """Make a new directory entry durable (POSIX; a no-op where directories cannot be opened)."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - Windows
        return
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _recover_head(fd: int, path: Path, size: int) -> tuple[int, str, int]:
    """The last record's ``seq`` and ``hash`` and the file's size after repair.

    Bytes after the last newline are a line a writer never finished (it crashed between
    ``write`` and ``fsync``, so its caller never committed); they are cut off so the file
    stays a chain of whole records.
    """
    if size == 0:
        return 0, GENESIS_HASH, 0
    end = size
    tail = os.pread(fd, 1, end - 1)
    if tail != b"\n":
        end = _last_newline(fd, end) + 1
        os.ftruncate(fd, end)
        os.fsync(fd)
        if end == 0:
            return 0, GENESIS_HASH, 0
    start = _last_newline(fd, end - 1) + 1
    line = os.pread(fd, end - start, start)
    try:
        record = AuditRecord.model_validate_json(line)
    except ValueError as exc:
        raise ValueError(
            f"last line of {path} is not an audit record; refusing to extend its chain"
        ) from exc
    return record.seq, record.hash, end


def _last_newline(fd: int, end: int) -> int:
    """Offset of the last newline byte before ``end``, or -1."""
    position = end
    while position > 0:
        start = max(0, position - _TAIL_CHUNK)
        chunk = os.pread(fd, position - start, start)
        found = chunk.rfind(b"\n")
        if found >= 0:
            return start + found
        position = start
    return -1


def read_chain(path: str | os.PathLike[str]) -> ChainCheck:
    """Read a tenant's file and check every link, stopping at the first broken one.

    ``broken_at`` is the 1-based line number of the first line that is not a record, is
    numbered out of sequence, or does not hash onto the line before.
    """
    records: list[AuditRecord] = []
    prev, seq = GENESIS_HASH, 0
    for number, line in _lines(Path(path)):
        try:
            record = AuditRecord.model_validate_json(line)
        except ValueError:
            return ChainCheck(records, number, f"line {number} is not an audit record")
        found = link_problem(record, prev, seq + 1)
        if found is not None:
            return ChainCheck(records, number, f"line {number}: {found}")
        records.append(record)
        prev, seq = record.hash, record.seq
    return ChainCheck(records, None, None)


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            yield number, line.rstrip(b"\n")


def audit_dir(context: PluginContext) -> Path:
    """The directory to use: ``settings["audit_dir"]``, ``$CHIMERA_AUDIT_DIR``, or ``./audit``.

    A relative path is taken from the current directory when the sink is built.
    """
    configured = context.settings.get("audit_dir") or os.environ.get(ENV_VAR) or DEFAULT_DIR
    return Path(configured).absolute()


def directory_problem(directory: Path) -> str | None:
    """Why the sink could not write under ``directory``, or ``None`` if it looks usable."""
    if directory.exists():
        if not directory.is_dir():
            return f"audit directory {directory} is not a directory"
        if not os.access(directory, os.W_OK | os.X_OK):
            return f"audit directory {directory} is not writable"
        return None
    if not directory.parent.is_dir():
        return f"audit directory {directory} cannot be created: {directory.parent} does not exist"
    if not os.access(directory.parent, os.W_OK | os.X_OK):
        return f"audit directory {directory} cannot be created: {directory.parent} is not writable"
    return None


def _jsonl(context: PluginContext) -> JsonlAuditSink:
    """Build the sink; with a swarm, check its directory up front.

    A mistyped ``CHIMERA_AUDIT_DIR`` then stops the command at start-up (exit code 2) with a
    :class:`~chimera.config.errors.ConfigError` located at the swarm's ``jsonl`` entry,
    instead of failing the first write.
    """
    directory = audit_dir(context)
    swarm = context.swarm
    if swarm is not None:
        problem = directory_problem(directory)
        if problem is not None:
            sinks = list(swarm.config.audit.sinks)
            index = sinks.index("jsonl") if "jsonl" in sinks else 0
            message = f"{problem}; set {ENV_VAR} to a writable directory"
            where = (
                swarm.source.problem(("audit", "sinks", index), message)
                if swarm.source is not None
                else Problem(swarm.path, 1, 1, message)
            )
            raise ConfigError([where])
    return JsonlAuditSink(directory)


@hookimpl
def register_audit_sinks(register: SinkRegistrar) -> None:
    """Register the ``jsonl`` sink (fsynced, hash-chained files, one per tenant)."""
    register("jsonl", _jsonl)
