"""Running async command bodies with a Runtime, and turning signals into a stop event."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from chimera.bootstrap import Runtime, build_runtime
from chimera.cli.loading import load_for_cli

R = TypeVar("R")


def with_runtime(
    swarm_path: Path,
    redis_url: str | None,
    prefix: str,
    body: Callable[[Runtime], Awaitable[R]],
    role: str = "cli",
) -> R:
    """Load the swarm, connect, run ``body(runtime)`` on a fresh event loop, close."""
    from chimera.plugins.manager import get_plugin_manager

    # One plugin manager per command: plugins load (and warn) once.
    pm = get_plugin_manager()
    swarm = load_for_cli(swarm_path, pm)

    async def main() -> R:
        runtime = await build_runtime(swarm, redis_url, prefix, plugin_manager=pm, role=role)
        try:
            return await body(runtime)
        finally:
            await runtime.close()

    return run_async(main())


def run_async(coroutine: Coroutine[Any, Any, R]) -> R:
    """Run ``coroutine`` on a new event loop: uvloop where installed, else asyncio's own.

    uvloop's loop is written in C on libuv; on the Worker's hot path (a task, a timer and
    a callback per LLM call) it cuts the loop's own overhead noticeably.
    """
    try:
        import uvloop
    except ImportError:  # pragma: no cover - Windows has no uvloop
        return asyncio.run(coroutine)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)


def stop_on_signals(stop: asyncio.Event) -> None:
    """Set ``stop`` on SIGINT or SIGTERM (a second signal is handled the same way)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
