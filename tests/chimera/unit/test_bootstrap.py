"""The composition root: plugin objects built from the registry, errors, closing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pluggy
import pytest
import redis.asyncio as aioredis

from chimera.bootstrap import PluginError, build_runtime
from chimera.plugins import hookimpl
from chimera.plugins.manager import get_plugin_manager
from tests.chimera.helpers import ECHO_SKILL, write_swarm


class ClosingBackend:
    name = "fake"

    def __init__(self) -> None:
        self.closed = False

    async def complete(self, request: Any) -> Any:
        raise NotImplementedError

    async def aclose(self) -> None:
        self.closed = True


def manager_with(plugin: object) -> pluggy.PluginManager:
    pm = get_plugin_manager(load_entry_points=False)
    pm.register(plugin, name="test-plugin")
    return pm


async def test_runtime_builds_named_plugins_and_closes_them(
    tmp_path: Path, fake_redis: aioredis.Redis
) -> None:
    backend = ClosingBackend()

    class Plugin:
        @hookimpl
        def register_backends(self, register: Any) -> None:
            register("fake", lambda context: backend)

    swarm = write_swarm(tmp_path, skills=[ECHO_SKILL], sinks=["log"])
    runtime = await build_runtime(swarm, None, "t", manager_with(Plugin()), client=fake_redis)
    assert runtime.backends == {"fake": backend}
    assert set(runtime.policies) == {"threshold"}
    assert [s.name for s in runtime.sinks] == ["log"]
    await runtime.close()
    assert backend.closed


async def test_failing_factory_is_a_plugin_error_naming_it(
    tmp_path: Path, fake_redis: aioredis.Redis
) -> None:
    class Plugin:
        @hookimpl
        def register_backends(self, register: Any) -> None:
            def broken(context: Any) -> Any:
                raise ValueError("CHIMERA_FAKE_TIMEOUT is not a number")

            register("fake", broken)

    swarm = write_swarm(tmp_path, skills=[ECHO_SKILL], sinks=["log"])
    with pytest.raises(PluginError, match="backend 'fake' could not be created: ValueError"):
        await build_runtime(swarm, None, "t", manager_with(Plugin()), client=fake_redis)


async def test_lifecycle_hooks_see_every_decision_and_commit(
    tmp_path: Path, fake_redis: aioredis.Redis
) -> None:
    from chimera.services.orchestrator import Orchestrator
    from chimera.services.planner import Submission
    from tests.chimera.helpers import FakeBackend

    seen: list[tuple[str, str]] = []

    class Plugin:
        @hookimpl
        def register_backends(self, register: Any) -> None:
            register("fake", lambda context: FakeBackend())

        @hookimpl
        def chimera_after_decision(self, decision: Any) -> None:
            seen.append(("decision", decision.verdict.value))

        @hookimpl
        def chimera_after_commit(self, task_id: str, tenant: str, outcome: str) -> None:
            seen.append(("commit", outcome))
            raise RuntimeError("a broken hook changes nothing")

    swarm = write_swarm(tmp_path, skills=[ECHO_SKILL], sinks=["log"])
    runtime = await build_runtime(swarm, None, "t", manager_with(Plugin()), client=fake_redis)
    orchestrator = Orchestrator(
        runtime.planner(),
        make_worker=lambda on_dead: runtime.worker(on_dead_letter=on_dead),
        make_judge=lambda on_outcome: runtime.judge(on_outcome=on_outcome),
    )
    report = await orchestrator.run(
        [Submission("acme", "echo", {"text": "a", "confidence": c}) for c in (0.9, 0.6, 0.1)]
    )
    assert report.totals()["tasks"] == 3
    assert sorted(v for k, v in seen if k == "decision") == ["approve", "deny", "review"]
    assert sorted(v for k, v in seen if k == "commit") == ["committed", "denied", "review"]
