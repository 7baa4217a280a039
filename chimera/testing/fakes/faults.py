"""Errors the fakes raise on purpose, so tests can drive the services' failure paths."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class _Planned:
    error: BaseException
    times: int | None


class Faults:
    """Planned failures of fake port methods, named ``"<fake>.<method>"``.

    ``store.faults.fail("queue.complete", ConnectionError("down"))`` makes the next call
    of the queue's ``complete`` raise that error (before changing anything); ``times=None``
    makes every call raise until :meth:`clear`.
    """

    def __init__(self) -> None:
        self._planned: dict[str, _Planned] = {}
        self.raised: list[str] = []

    def fail(self, method: str, error: BaseException, times: int | None = 1) -> None:
        """Make the next ``times`` calls of ``method`` raise ``error``."""
        self._planned[method] = _Planned(error, times)

    def clear(self, method: str | None = None) -> None:
        """Forget the planned failure of ``method`` (of every method when ``None``)."""
        if method is None:
            self._planned.clear()
        else:
            self._planned.pop(method, None)

    def check(self, method: str) -> None:
        """Raise the planned error of ``method``, if any (the fakes call this first)."""
        planned = self._planned.get(method)
        if planned is None:
            return
        if planned.times is not None:
            planned.times -= 1
            if planned.times <= 0:
                del self._planned[method]
        self.raised.append(method)
        raise planned.error
