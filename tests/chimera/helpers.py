"""Test helpers: small swarms written to a temp folder, recording fakes of the ports."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from chimera.config.loader import load_swarm
from chimera.config.swarm import Swarm
from chimera.models.audit import AuditEvent
from chimera.models.llm import LLMRequest, LLMResponse

ECHO_SKILL: dict[str, Any] = {
    "name": "echo",
    "backend": "fake",
    "prompt": "Echo {{ text }}",
    "input_schema": {
        "type": "object",
        "required": ["text"],
        "properties": {"text": {"type": "string"}, "confidence": {"type": "number"}},
    },
    "output_schema": {
        "type": "object",
        "required": ["echo"],
        "properties": {"echo": {"type": "string"}},
    },
    "timeout_s": 5,
    "retry": {"max_attempts": 3, "backoff_base_s": 0.01, "backoff_max_s": 0.05},
}


def write_swarm(
    folder: Path,
    skills: Sequence[dict[str, Any]] = (ECHO_SKILL,),
    tenants: dict[str, Any] | None = None,
    judge: dict[str, Any] | None = None,
    jobs: list[dict[str, Any]] | None = None,
    sinks: list[str] | None = None,
) -> Swarm:
    """Write a swarm and its skills under ``folder`` and load it."""
    (folder / "skills").mkdir(parents=True, exist_ok=True)
    for skill in skills:
        (folder / "skills" / f"{skill['name']}.yaml").write_text(yaml.safe_dump(skill))
    names = [s["name"] for s in skills]
    swarm = {
        "version": 1,
        "name": "test",
        "skills": ["skills/*.yaml"],
        "tenants": tenants or {"acme": {"skills": names}, "globex": {"skills": names}},
        "judge": judge or {"policy": "threshold", "approve_at": 0.8, "review_at": 0.5},
        "audit": {"sinks": sinks if sinks is not None else ["redis"]},
        "jobs": jobs or [],
    }
    path = folder / "swarm.yaml"
    path.write_text(yaml.safe_dump(swarm))
    return load_swarm(path)


class FakeBackend:
    """Answers with ``{"echo": text}`` and the input's ``confidence`` (default 0.9).

    Records the peak number of concurrent calls; ``fail_times`` makes the first N calls
    per text raise; ``delay_s`` simulates latency.
    """

    name = "fake"

    def __init__(self, delay_s: float = 0.0, fail_times: int = 0, error: Exception | None = None):
        self.delay_s = delay_s
        self.fail_times = fail_times
        self.error = error
        self.calls: list[LLMRequest] = []
        self.failures: dict[str, int] = {}
        self.active = 0
        self.peak = 0
        self.company: dict[str, int] = {}  # text -> calls in flight when it started

    async def complete(self, request: LLMRequest) -> LLMResponse:
        self.calls.append(request)
        self.active += 1
        self.peak = max(self.peak, self.active)
        self.company[str(request.input.get("text"))] = self.active
        try:
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            text = str(request.input.get("text"))
            if self.failures.get(text, 0) < self.fail_times:
                self.failures[text] = self.failures.get(text, 0) + 1
                assert self.error is not None
                raise self.error
            confidence = request.input.get("confidence", 0.9)
            assert isinstance(confidence, float | int)
            return LLMResponse(output={"echo": text}, confidence=float(confidence))
        finally:
            self.active -= 1


class RecordingSink:
    """An audit sink that remembers what it was given, and can be told to fail."""

    def __init__(self, name: str = "recording", log: list[str] | None = None) -> None:
        self.name = name
        self.events: list[AuditEvent] = []
        self.fail = False
        self.log = log if log is not None else []

    async def write(self, events: Sequence[AuditEvent]) -> None:
        self.log.append(f"audit:{','.join(e.type.value for e in events)}")
        if self.fail:
            raise OSError("disk full")
        self.events.extend(events)


async def eventually(check: Any, within: float = 5.0, interval: float = 0.01) -> None:
    """Wait until ``await check()`` is truthy, or fail after ``within`` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        if await check():
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(interval)


class Running:
    """Runs a service's ``run(stop)`` in the background: ``async with Running(svc): ...``."""

    def __init__(self, *services: Any) -> None:
        self.services = services
        self.stop = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Running:
        self.tasks = [asyncio.create_task(s.run(self.stop)) for s in self.services]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        await asyncio.wait_for(asyncio.gather(*self.tasks), timeout=10)
