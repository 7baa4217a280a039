"""Fixtures of the openai backend's tests: backends built on a scripted fake server."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from chimera_swarm_openai.backend import OpenAIBackend
from chimera_swarm_openai.settings import OpenAISettings
from openai_fakes import API_KEY, BASE_URL, FakeServer, Sleeps


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def make(sleeps: Sleeps) -> AsyncIterator[Callable[..., OpenAIBackend]]:
    """Build backends on a fake server; closes them afterwards."""
    made: list[OpenAIBackend] = []

    def build(server: FakeServer, **settings: Any) -> OpenAIBackend:
        fields: dict[str, Any] = {"base_url": BASE_URL, "api_key": API_KEY, "max_retries": 2}
        fields.update(settings)
        backend = OpenAIBackend(
            OpenAISettings(**fields),
            transport=httpx.MockTransport(server),
            sleep=sleeps,
            rng=random.Random(7),
            environ={},
        )
        made.append(backend)
        return backend

    yield build
    for backend in made:
        await backend.aclose()
