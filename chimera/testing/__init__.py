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

import importlib
from typing import Any

# Names are resolved on first use (PEP 562): pytest imports this package early through
# the ``pytest11`` entry point, before coverage starts, and eager imports here would hide
# chimera's own module lines from coverage.
_EXPORTS = {
    "BackendConformance": "chimera.testing.conformance",
    "PolicyConformance": "chimera.testing.conformance",
    "SinkConformance": "chimera.testing.conformance",
    "FakeToolbox": "chimera.testing.fake_tools",
    "RecordingSink": "chimera.testing.builders",
    "binding": "chimera.testing.fake_tools",
    "make_event": "chimera.testing.builders",
    "make_policy_input": "chimera.testing.builders",
    "make_request": "chimera.testing.builders",
    "make_result": "chimera.testing.builders",
    "make_task": "chimera.testing.builders",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'chimera.testing' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
