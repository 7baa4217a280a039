"""Running a command's async body with a Runtime on a fresh event loop."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from redis.exceptions import RedisError

from chimera.bootstrap import Runtime, build_runtime
from chimera.cli.errors import RedisFault
from chimera.cli.loading import load_for_cli
from chimera.client import Client
from chimera.services.faults import PermanentFault

R = TypeVar("R")


def with_runtime(
    swarm_path: Path,
    redis_url: str | None,
    prefix: str,
    body: Callable[[Runtime], Awaitable[R]],
    role: str = "cli",
) -> R:
    """Load the swarm, connect, run ``body(runtime)`` on a fresh event loop, close.

    Raises:
        RedisFault: Redis failed while ``body`` ran, or a loop stopped on a permanent Redis
            fault (naming the URL, without credentials).
    """
    from chimera.plugins.manager import get_plugin_manager

    # One plugin manager per command: plugins load (and warn) once.
    pm = get_plugin_manager()
    swarm = load_for_cli(swarm_path, pm)

    async def main() -> R:
        runtime = await build_runtime(swarm, redis_url, prefix, plugin_manager=pm, role=role)
        settle_garbage_collector()
        try:
            return await body(runtime)
        finally:
            await runtime.close()

    try:
        return run_async(main())
    except RedisError as exc:
        raise RedisFault(redis_url, exc) from exc
    except PermanentFault as exc:
        # A loop stopped on a Redis error retrying cannot cure: name the Redis too.
        if isinstance(exc.__cause__, RedisError):
            raise RedisFault(redis_url, exc) from exc
        raise


def settle_garbage_collector() -> None:
    """Tune the cyclic garbage collector for a process that runs many tasks at once.

    Everything loaded so far (modules, the swarm, plugin objects) lives as long as the
    process: frozen, later collections no longer walk it. And a Worker allocates several
    objects per task with hundreds in flight, so the default thresholds (a collection per
    700 allocations) ran collections that cost as much as a tenth of each task's CPU;
    reference counting still frees almost everything at once, so collecting less often
    costs little memory.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 50)


def with_client(
    swarm_path: Path,
    redis_url: str | None,
    prefix: str,
    body: Callable[[Client], Awaitable[R]],
    actor: str | None = None,
) -> R:
    """:func:`with_runtime`, handing ``body`` the Python client over that runtime.

    The commands that submit, follow, cancel and review go through the same client an
    application uses.
    """

    async def on_client(runtime: Runtime) -> R:
        return await body(Client.of(runtime, actor))

    return with_runtime(swarm_path, redis_url, prefix, on_client)


async def run_until_stopped(
    loops: Sequence[Coroutine[Any, Any, None]], stop: asyncio.Event
) -> None:
    """Run ``loops`` (each returns once ``stop`` is set) together until all have returned.

    When one raises (a permanent Redis fault, say), ``stop`` is set so the others stop
    cleanly too — handing their work back — and then the first failure propagates.
    """
    running = [asyncio.create_task(loop) for loop in loops]
    try:
        await asyncio.gather(*running)
    finally:
        stop.set()
        await asyncio.gather(*running, return_exceptions=True)


def run_async(coroutine: Coroutine[Any, Any, R]) -> R:
    """Run ``coroutine`` on a new event loop: uvloop where installed, else asyncio's own.

    uvloop's loop is written in C on libuv; on the Worker's hot path (a task, a timer and
    a callback per LLM call) it cuts the loop's own overhead noticeably. (What it does to a
    later write on a pipe is handled in :mod:`chimera.cli.stdio`.)
    """
    try:
        import uvloop
    except ImportError:  # pragma: no cover - Windows has no uvloop
        return asyncio.run(coroutine)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)
