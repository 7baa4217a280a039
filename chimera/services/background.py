"""Background loops that must not fail unnoticed."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


def supervised(
    loop: Coroutine[Any, Any, None],
    name: str,
    stop: asyncio.Event,
    failures: list[BaseException],
) -> asyncio.Task[None]:
    """Run ``loop`` as a task; if it dies with an error, record it and set ``stop``.

    A service whose side loop (flushing, lease keeping) stopped for good must stop as a
    whole and say why, not limp on without it.
    """
    task = asyncio.create_task(loop, name=name)

    def done(finished: asyncio.Task[None]) -> None:
        if finished.cancelled():
            return
        error = finished.exception()
        if error is not None:
            failures.append(error)
            stop.set()

    task.add_done_callback(done)
    return task
