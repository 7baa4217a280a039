"""Helpers for testing chimera plugins, and a conformance suite for their objects.

Build inputs with :func:`make_task`, :func:`make_result`, :func:`make_policy_input`,
:func:`make_request` and :func:`make_tool_request` (and the next step of a tool-calling
conversation with :func:`continue_with_tool_results`); record audit output with
:class:`RecordingSink`. Reach your installed plugin the way chimera does with
:func:`installed_registry`, :func:`build_backend` / :func:`build_policy` /
:func:`build_sink` (built and checked against their port), :func:`load_swarm_checked`
(names and plugin checks, as every command loads a swarm) and :func:`run_cli`. Run
chimera's services without Redis on in-memory fakes of every port: :class:`FakePorts`
builds them all over one :class:`MemoryStore` (:class:`FakeQueue`,
:class:`FakeUnitOfWork`, :class:`FakeSessionStore`, :class:`FakeReviewStore`,
:class:`FakeDeadLetterStore`, :class:`FakeResultStore`, :class:`FakeTaskStatusStore`,
:class:`FakeTaskCanceller`, :class:`FakeUsageStore`,
:class:`FakeAuditSink`, :class:`RecordingAuditLogger`), with a :class:`ManualClock` to move
idle and due times and :class:`Faults` to make calls fail. Check a backend, policy or sink
against its contract by subclassing :class:`BackendConformance`,
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
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chimera.testing.builders import (
        DEFAULT_TOOLS,
        RecordingSink,
        continue_with_tool_results,
        make_event,
        make_policy_input,
        make_request,
        make_result,
        make_task,
        make_tool_request,
    )
    from chimera.testing.conformance import BackendConformance, PolicyConformance, SinkConformance
    from chimera.testing.fake_tools import FakeToolbox, binding
    from chimera.testing.fakes.audit import FakeAuditSink, RecordingAuditLogger
    from chimera.testing.fakes.clock import ManualClock
    from chimera.testing.fakes.faults import Faults
    from chimera.testing.fakes.ports import FakePorts
    from chimera.testing.fakes.queue import FakeQueue
    from chimera.testing.fakes.store import MemoryStore
    from chimera.testing.fakes.stores import (
        FakeDeadLetterStore,
        FakeResultStore,
        FakeReviewStore,
        FakeSessionStore,
        FakeTaskCanceller,
        FakeTaskStatusStore,
        FakeUsageStore,
    )
    from chimera.testing.fakes.unit_of_work import FakeUnitOfWork
    from chimera.testing.harness import (
        CliOutcome,
        build_backend,
        build_policy,
        build_sink,
        installed_registry,
        load_swarm_checked,
        run_cli,
    )

# Names are resolved on first use (PEP 562): pytest imports this package early through
# the ``pytest11`` entry point, before coverage starts, and eager imports here would hide
# chimera's own module lines from coverage.
_EXPORTS = {
    "BackendConformance": "chimera.testing.conformance",
    "binding": "chimera.testing.fake_tools",
    "build_backend": "chimera.testing.harness",
    "build_policy": "chimera.testing.harness",
    "build_sink": "chimera.testing.harness",
    "CliOutcome": "chimera.testing.harness",
    "continue_with_tool_results": "chimera.testing.builders",
    "DEFAULT_TOOLS": "chimera.testing.builders",
    "FakeToolbox": "chimera.testing.fake_tools",
    "FakeAuditSink": "chimera.testing.fakes.audit",
    "FakeDeadLetterStore": "chimera.testing.fakes.stores",
    "FakePorts": "chimera.testing.fakes.ports",
    "FakeQueue": "chimera.testing.fakes.queue",
    "FakeResultStore": "chimera.testing.fakes.stores",
    "FakeReviewStore": "chimera.testing.fakes.stores",
    "FakeSessionStore": "chimera.testing.fakes.stores",
    "FakeTaskCanceller": "chimera.testing.fakes.stores",
    "FakeUsageStore": "chimera.testing.fakes.stores",
    "FakeTaskStatusStore": "chimera.testing.fakes.stores",
    "FakeUnitOfWork": "chimera.testing.fakes.unit_of_work",
    "Faults": "chimera.testing.fakes.faults",
    "ManualClock": "chimera.testing.fakes.clock",
    "MemoryStore": "chimera.testing.fakes.store",
    "RecordingAuditLogger": "chimera.testing.fakes.audit",
    "installed_registry": "chimera.testing.harness",
    "load_swarm_checked": "chimera.testing.harness",
    "make_event": "chimera.testing.builders",
    "make_policy_input": "chimera.testing.builders",
    "make_request": "chimera.testing.builders",
    "make_result": "chimera.testing.builders",
    "make_task": "chimera.testing.builders",
    "make_tool_request": "chimera.testing.builders",
    "PolicyConformance": "chimera.testing.conformance",
    "RecordingSink": "chimera.testing.builders",
    "run_cli": "chimera.testing.harness",
    "SinkConformance": "chimera.testing.conformance",
}

__all__ = [
    "DEFAULT_TOOLS",
    "BackendConformance",
    "CliOutcome",
    "FakeAuditSink",
    "FakeDeadLetterStore",
    "FakePorts",
    "FakeQueue",
    "FakeResultStore",
    "FakeReviewStore",
    "FakeSessionStore",
    "FakeTaskCanceller",
    "FakeTaskStatusStore",
    "FakeToolbox",
    "FakeUnitOfWork",
    "FakeUsageStore",
    "Faults",
    "ManualClock",
    "MemoryStore",
    "PolicyConformance",
    "RecordingAuditLogger",
    "RecordingSink",
    "SinkConformance",
    "binding",
    "build_backend",
    "build_policy",
    "build_sink",
    "continue_with_tool_results",
    "installed_registry",
    "load_swarm_checked",
    "make_event",
    "make_policy_input",
    "make_request",
    "make_result",
    "make_task",
    "make_tool_request",
    "run_cli",
]


if not TYPE_CHECKING:  # hidden from type checkers, so a misspelt name is an error there

    def __getattr__(name: str) -> object:
        module = _EXPORTS.get(name)
        if module is None:
            raise AttributeError(f"module 'chimera.testing' has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)
