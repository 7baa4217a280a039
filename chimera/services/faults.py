"""How long-running loops treat the errors they meet: wait and retry, stop, or report a bug.

Services do not know Redis; the composition root hands them a classifier that does (see
:func:`chimera.lib.redis_faults.classify`). An expected fault (a dropped connection, a
timeout, a failover) is one log line saying what happens next; a permanent one (no
permission, wrong password) stops the process with one line; anything else is a bug and
is logged with its traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any


class Fault(StrEnum):
    """What kind of error a loop met."""

    TRANSIENT = "transient"
    PERMANENT = "permanent"
    UNEXPECTED = "unexpected"


FaultClassifier = Callable[[BaseException], Fault]


class PermanentFault(Exception):
    """An error that retrying cannot fix: the loop stops and the process exits non-zero.

    Attributes:
        where: which loop met it (``worker.read``, ``judge.batch``…).
    """

    def __init__(self, where: str, cause: BaseException) -> None:
        text = str(cause)
        # A pipelined command's error repeats the command (a whole Lua script): keep the
        # server's own words.
        _, marker, reason = text.partition("caused error: ")
        super().__init__(f"{where}: {type(cause).__name__}: {reason if marker else text}")
        self.where = where
        self.cause = cause


def classify_builtin(exc: BaseException) -> Fault:
    """The classifier used when none is given: network errors are transient."""
    if isinstance(exc, ConnectionError | TimeoutError | OSError):
        return Fault.TRANSIENT
    return Fault.UNEXPECTED


def handle(
    log: Any,
    where: str,
    exc: BaseException,
    classify: FaultClassifier,
    next_step: str,
    **context: Any,
) -> None:
    """Log ``exc`` as its kind deserves, or raise :class:`PermanentFault`.

    Args:
        log: the structlog logger of the loop.
        where: the event name (``worker.flush_failed``).
        exc: the error.
        classify: tells transient, permanent and unexpected errors apart.
        next_step: what the loop does now ("retrying in 0.5s"), for the log line.
        context: more fields for the log line.

    Raises:
        PermanentFault: the error cannot go away by waiting.
    """
    kind = classify(exc)
    if kind is Fault.PERMANENT:
        # Not logged here: whoever stops the process reports it, once.
        raise PermanentFault(where, exc) from exc
    if kind is Fault.TRANSIENT:
        log.warning(where, error=f"{type(exc).__name__}: {exc}", next=next_step, **context)
        log.debug(where, exc_info=exc)
        return
    log.error(where, next=next_step, exc_info=exc, **context)
