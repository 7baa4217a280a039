"""The pytest plugin (entry point ``pytest11: chimera``): fixtures for plugin authors.

chimera is imported inside the fixtures, not here: pytest loads this module before
coverage starts measuring, and an import here would hide chimera's own lines from it.
"""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def chimera_task() -> Any:
    """A valid Task (tenant ``acme``, skill ``answer``)."""
    from chimera.testing.builders import make_task

    return make_task()


@pytest.fixture
def chimera_result(chimera_task: Any) -> Any:
    """A succeeded Result answering ``chimera_task``."""
    from chimera.testing.builders import make_result

    return make_result(chimera_task)


@pytest.fixture
def chimera_policy_input(chimera_result: Any, chimera_task: Any) -> Any:
    """A PolicyInput for ``chimera_result`` with thresholds 0.8 / 0.5."""
    from chimera.testing.builders import make_policy_input

    return make_policy_input(chimera_result, chimera_task)


@pytest.fixture
def chimera_request() -> Any:
    """An LLMRequest with a small JSON output schema."""
    from chimera.testing.builders import make_request

    return make_request()


@pytest.fixture
def chimera_recording_sink() -> Any:
    """An audit sink that keeps what it is given."""
    from chimera.testing.builders import RecordingSink

    return RecordingSink()
