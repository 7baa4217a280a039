"""``chimera status --watch``: the status redrawn every interval until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import click
from rich.live import Live

from chimera.cli.render import console
from chimera.cli.signals import stop_on_signals
from chimera.cli.status_view import status_tables

Snapshot = tuple[list[dict[str, Any]], list[dict[str, Any]]]


async def watch_status(
    snapshot: Callable[[], Awaitable[Snapshot]],
    interval: float,
    as_json: bool,
    stop: asyncio.Event | None = None,
) -> None:
    """Take a snapshot every ``interval`` seconds and show it, until ``stop`` is set.

    The tables are redrawn in place; with ``as_json`` each snapshot is one JSON line, for
    scripts to follow. Without ``stop``, SIGINT or SIGTERM stops it.
    """
    if stop is None:
        stop = asyncio.Event()
        stop_on_signals(stop)
    if as_json:
        while not stop.is_set():
            rows, processes = await snapshot()
            click.echo(json.dumps({"at": time.time(), "tenants": rows, "processes": processes}))
            await _pause(stop, interval)
        return
    with Live(console=console(), auto_refresh=False) as live:
        while not stop.is_set():
            rows, processes = await snapshot()
            caption = f"every {interval:g}s · {time.strftime('%H:%M:%S')} · Ctrl-C to stop"
            live.update(status_tables(rows, processes, caption), refresh=True)
            await _pause(stop, interval)


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await stop.wait()
