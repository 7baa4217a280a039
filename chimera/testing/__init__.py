"""Helpers for testing chimera plugins, and a conformance suite for their objects.

Build inputs with :func:`make_task`, :func:`make_result`, :func:`make_policy_input` and
:func:`make_request`; record audit output with :class:`RecordingSink`. Check a backend,
policy or sink against its contract by subclassing :class:`BackendConformance`,
:class:`PolicyConformance` or :class:`SinkConformance` in your test module (they need
pytest, and ``pytest-asyncio`` or any runner of ``async def`` tests)::

    from chimera.testing import BackendConformance

    class TestMyBackend(BackendConformance):
        @pytest.fixture
        def backend(self):
            return MyBackend(...)
"""

from __future__ import annotations

from chimera.testing.builders import (
    RecordingSink,
    make_event,
    make_policy_input,
    make_request,
    make_result,
    make_task,
)
from chimera.testing.conformance import BackendConformance, PolicyConformance, SinkConformance

__all__ = [
    "BackendConformance",
    "PolicyConformance",
    "RecordingSink",
    "SinkConformance",
    "make_event",
    "make_policy_input",
    "make_request",
    "make_result",
    "make_task",
]
