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
