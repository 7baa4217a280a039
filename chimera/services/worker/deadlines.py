"""Time limits for the many backend calls of one Worker, kept by one timer.

``asyncio.timeout`` arms an event-loop timer when a call starts and cancels it when the
call ends. With a fast backend that is a large part of a call's cost on the Worker's hot
path (a timer handle made, put into the loop's heap and taken out again, per call).
:class:`Deadlines` keeps the due time of every call in flight in a dict instead, and one
timer, ticking only while calls are in flight, cancels those past due. A call is then
stopped at most ``resolution_s`` after its limit (plenty for limits of seconds), and the
call sees exactly what ``asyncio.timeout`` gives it: a ``TimeoutError`` where it waited.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

#: How late past its limit a call may be stopped.
RESOLUTION_S = 0.05


class Deadlines:
    """Time limits for calls made by tasks of one event loop.

    Args:
        resolution_s: how often the timer looks for calls past due.
    """

    def __init__(self, resolution_s: float = RESOLUTION_S) -> None:
        self.resolution_s = resolution_s
        self._due: dict[asyncio.Task[object], float] = {}
        self._expired: set[asyncio.Task[object]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._tick_at = 0.0

    def within(self, seconds: float) -> Within:
        """An ``async with`` block that raises ``TimeoutError`` if it runs past ``seconds``."""
        return Within(self, seconds)

    def _start(self, task: asyncio.Task[object], seconds: float) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + seconds
        self._due[task] = due
        if self._timer is None or due < self._tick_at:
            self._schedule(loop, min(due, loop.time() + self.resolution_s))

    def _end(self, task: asyncio.Task[object]) -> bool:
        """Forget ``task``'s call; True if it was cancelled for running past due."""
        self._due.pop(task, None)
        if task in self._expired:
            self._expired.discard(task)
            return True
        return False

    def _schedule(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._tick_at = when
        self._timer = loop.call_at(when, self._tick)

    def _tick(self) -> None:
        self._timer = None
        if not self._due:
            return  # nothing in flight: no timer until the next call starts
        loop = asyncio.get_running_loop()
        now = loop.time()
        soonest = now + self.resolution_s
        for task, due in list(self._due.items()):
            if due <= now:
                del self._due[task]
                self._expired.add(task)
                task.cancel()
            else:
                soonest = min(soonest, due)
        if self._due:
            self._schedule(loop, soonest)


class Within:
    """One call's limit (see :meth:`Deadlines.within`)."""

    def __init__(self, deadlines: Deadlines, seconds: float) -> None:
        self._deadlines = deadlines
        self._seconds = seconds
        self._task: asyncio.Task[object] | None = None
        self._cancelling = 0

    async def __aenter__(self) -> None:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a time limit needs to run inside a task")
        self._task = task
        # As asyncio.timeout does: a cancellation already asked for is not ours to turn
        # into a timeout.
        self._cancelling = task.cancelling()
        self._deadlines._start(task, self._seconds)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._task is not None
        if not self._deadlines._end(self._task):
            return
        if self._task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
            raise TimeoutError from exc
