"""Which Redis errors go away by waiting, and which never will.

Transient: the connection dropped or timed out, the server is loading or failing over,
a cluster slot is moving. Permanent: the user may not run a command or touch a key
(``NOPERM``), the password is wrong (``WRONGPASS``/``NOAUTH``), scripting is disabled.
Everything else is unexpected: a bug to be reported with its traceback.
"""

from __future__ import annotations

from redis import exceptions as rx

from chimera.services.faults import Fault

_TRANSIENT = (
    rx.ConnectionError,
    rx.TimeoutError,
    rx.BusyLoadingError,
    rx.ReadOnlyError,
    rx.TryAgainError,
    # A cluster client gives up on a command redirected too often (a slot being moved:
    # TRYAGAIN, ASK, MOVED in a row), or finds a slot no node serves yet (failover).
    rx.ClusterError,
    rx.SlotNotCoveredError,
    rx.ClusterDownError,
    rx.MasterDownError,
    rx.AskError,
    rx.MovedError,
    ConnectionError,
    TimeoutError,
    OSError,
)
_PERMANENT = (rx.AuthenticationError, rx.AuthorizationError, rx.NoPermissionError)
_PERMANENT_PREFIXES = ("NOPERM", "NOAUTH", "WRONGPASS")
_TRANSIENT_PREFIXES = ("LOADING", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "READONLY", "BUSY")


def classify(exc: BaseException) -> Fault:
    """Tell a transient Redis (or network) fault from a permanent one or a bug."""
    if isinstance(exc, _PERMANENT):
        return Fault.PERMANENT
    if isinstance(exc, _TRANSIENT):
        return Fault.TRANSIENT
    if isinstance(exc, rx.ResponseError):
        text = str(exc)
        if text.startswith(_PERMANENT_PREFIXES) or "no permissions" in text:
            return Fault.PERMANENT
        if text.startswith(_TRANSIENT_PREFIXES):
            return Fault.TRANSIENT
    return Fault.UNEXPECTED
