"""The pytest plugin (entry point ``pytest11: chimera``): fixtures for plugin authors."""

from __future__ import annotations

from typing import Any

import pytest

from chimera.testing.builders import (
    RecordingSink,
    make_policy_input,
    make_request,
    make_result,
    make_task,
)


@pytest.fixture
def chimera_task() -> Any:
    """A valid Task (tenant ``acme``, skill ``answer``)."""
    return make_task()


@pytest.fixture
def chimera_result(chimera_task: Any) -> Any:
    """A succeeded Result answering ``chimera_task``."""
    return make_result(chimera_task)


@pytest.fixture
def chimera_policy_input(chimera_result: Any, chimera_task: Any) -> Any:
    """A PolicyInput for ``chimera_result`` with thresholds 0.8 / 0.5."""
    return make_policy_input(chimera_result, chimera_task)


@pytest.fixture
def chimera_request() -> Any:
    """An LLMRequest with a small JSON output schema."""
    return make_request()


@pytest.fixture
def chimera_recording_sink() -> RecordingSink:
    """An audit sink that keeps what it is given."""
    return RecordingSink()
