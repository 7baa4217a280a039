"""The metrics port: what services count and time, without knowing who collects it.

Services call these methods at the points where things happen (a task settles, an LLM
call returns, a tool answers, the Judge decides). :class:`NoMetrics` is the default and
does nothing; the Prometheus adapter (:mod:`chimera.telemetry.prometheus`) is given by the
composition root when ``--metrics-port`` asks for it. Every label is of bounded
cardinality: tenants, skills, models, tools and outcomes, never task or session ids.
Methods are synchronous and must be cheap: they run on the event loop's hot path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from chimera.ports.queue import TenantStats


@runtime_checkable
class Metrics(Protocol):
    """Receives the counts and timings of a chimera process."""

    @property
    def enabled(self) -> bool:
        """False when nothing is collected: callers may skip work done only for metrics."""
        ...

    def task_settled(self, tenant: str, skill: str, outcome: str, seconds: float) -> None:
        """A task ended: ``committed``, ``denied``, ``review`` or ``dead_lettered``.

        ``seconds`` runs from the task's creation (retries keep it) to now.
        """
        ...

    def llm_call(
        self,
        tenant: str,
        skill: str,
        provider: str,
        model: str,
        seconds: float,
        input_tokens: int,
        output_tokens: int,
        error_type: str | None,
    ) -> None:
        """One backend call returned (``error_type`` ``None``) or failed."""
        ...

    def tool_call(self, server: str, tool: str, outcome: str, seconds: float) -> None:
        """One tool call: ``ok``, ``error`` (the tool's own) or ``unavailable``."""
        ...

    def verdict(self, tenant: str, skill: str, verdict: str, policy: str) -> None:
        """The Judge decided ``verdict`` about a Result."""
        ...

    def retried(self, tenant: str, skill: str, by: str) -> None:
        """A task was scheduled for another attempt by ``worker`` or ``judge``."""
        ...

    def track_in_flight(self, count: Callable[[], int]) -> None:
        """Report ``count()`` as the tasks this process has in flight, read when collected."""
        ...

    def queue_stats(self, stats: TenantStats) -> None:
        """The latest figures of one tenant's streams (lag, pending, backlogs)."""
        ...

    def queue_unreadable(self, tenant: str) -> None:
        """The tenant's figures could not be read (no permission): not zeros, unknown."""
        ...

    def quota_throttled(self, tenant: str, limit: str) -> None:
        """A quota (``rate``, ``in_flight``) began holding the tenant's tasks back."""
        ...


class NoMetrics:
    """Collects nothing: the default, so instrumentation costs one method call when off."""

    @property
    def enabled(self) -> bool:
        """Always False."""
        return False

    def task_settled(self, tenant: str, skill: str, outcome: str, seconds: float) -> None:
        """Ignore."""

    def llm_call(
        self,
        tenant: str,
        skill: str,
        provider: str,
        model: str,
        seconds: float,
        input_tokens: int,
        output_tokens: int,
        error_type: str | None,
    ) -> None:
        """Ignore."""

    def tool_call(self, server: str, tool: str, outcome: str, seconds: float) -> None:
        """Ignore."""

    def verdict(self, tenant: str, skill: str, verdict: str, policy: str) -> None:
        """Ignore."""

    def retried(self, tenant: str, skill: str, by: str) -> None:
        """Ignore."""

    def track_in_flight(self, count: Callable[[], int]) -> None:
        """Ignore."""

    def queue_stats(self, stats: TenantStats) -> None:
        """Ignore."""

    def queue_unreadable(self, tenant: str) -> None:
        """Ignore."""

    def quota_throttled(self, tenant: str, limit: str) -> None:
        """Ignore."""


#: The shared do-nothing instance services default to.
NO_METRICS = NoMetrics()
