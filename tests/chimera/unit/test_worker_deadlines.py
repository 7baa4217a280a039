"""Deadlines: one timer keeps the time limits of many backend calls, as asyncio.timeout would."""

from __future__ import annotations

import asyncio
import time

import pytest

from chimera.services.worker.deadlines import Deadlines


async def test_a_call_past_its_limit_gets_a_timeout_error_where_it_waited() -> None:
    deadlines = Deadlines(resolution_s=0.01)
    began = time.monotonic()
    with pytest.raises(TimeoutError):
        async with deadlines.within(0.05):
            await asyncio.sleep(5)
    assert 0.04 <= time.monotonic() - began < 1.0
    assert not deadlines._due
    assert not deadlines._expired


async def test_a_call_within_its_limit_is_left_alone_and_the_timer_stops() -> None:
    deadlines = Deadlines(resolution_s=0.01)
    async with deadlines.within(1.0):
        await asyncio.sleep(0.03)  # spans a few ticks
    assert not deadlines._due
    await asyncio.sleep(0.03)
    assert deadlines._timer is None  # nothing in flight: no ticking


async def test_a_limit_shorter_than_the_resolution_is_kept_on_time() -> None:
    deadlines = Deadlines(resolution_s=10.0)
    began = time.monotonic()
    with pytest.raises(TimeoutError):
        async with deadlines.within(0.02):
            await asyncio.sleep(5)
    assert time.monotonic() - began < 1.0


async def test_many_calls_each_end_by_their_own_limit() -> None:
    deadlines = Deadlines(resolution_s=0.01)

    async def call(limit: float, takes: float) -> str:
        try:
            async with deadlines.within(limit):
                await asyncio.sleep(takes)
        except TimeoutError:
            return "timeout"
        return "done"

    outcomes = await asyncio.gather(
        call(0.05, 5), call(1.0, 0.02), call(0.1, 5), call(2.0, 0.08), call(0.03, 0.0)
    )
    assert outcomes == ["timeout", "done", "timeout", "done", "done"]


async def test_a_cancellation_from_outside_stays_a_cancellation() -> None:
    deadlines = Deadlines(resolution_s=0.01)
    entered = asyncio.Event()

    async def call() -> None:
        async with deadlines.within(10.0):
            entered.set()
            await asyncio.sleep(5)

    task = asyncio.create_task(call())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not deadlines._due


async def test_an_error_of_the_call_passes_through_unchanged() -> None:
    deadlines = Deadlines()
    with pytest.raises(ValueError, match="boom"):
        async with deadlines.within(1.0):
            raise ValueError("boom")
    assert not deadlines._due
