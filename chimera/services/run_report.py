"""What a run came to: each task's outcome, and the per-tenant, per-skill figures."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from chimera.models.types import JsonValue

#: How a task ended, as the run summary and ``--out`` name it.
OUTCOMES = ("committed", "denied", "review", "dead_lettered")


@dataclass(frozen=True)
class TaskOutcome:
    """Where one task ended, and how it got there."""

    task_id: str
    tenant: str
    session: str
    skill: str
    outcome: str
    attempts: int
    latency_ms: float
    confidence: float | None = None
    reason: str | None = None
    output: dict[str, JsonValue] | None = None

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict (one line of ``--out``)."""
        return {
            "task_id": self.task_id,
            "tenant": self.tenant,
            "session": self.session,
            "skill": self.skill,
            "outcome": self.outcome,
            "attempts": self.attempts,
            "latency_ms": round(self.latency_ms, 3),
            "confidence": self.confidence,
            "reason": self.reason,
            "output": self.output,
        }


@dataclass
class RunReport:
    """Every task's outcome, and the per-tenant, per-skill figures of the run."""

    session: str
    outcomes: dict[str, TaskOutcome] = field(default_factory=dict)
    retried: Counter[tuple[str, str]] = field(default_factory=Counter)
    duplicates: int = 0
    elapsed_s: float = 0.0

    def rows(self) -> list[dict[str, Any]]:
        """One row per tenant and skill: counts by outcome, retries, p50/p95 latency (ms)."""
        groups: dict[tuple[str, str], list[TaskOutcome]] = defaultdict(list)
        for outcome in self.outcomes.values():
            groups[(outcome.tenant, outcome.skill)].append(outcome)
        rows = []
        for (tenant, skill), items in sorted(groups.items()):
            counts = Counter(o.outcome for o in items)
            latencies = sorted(o.latency_ms for o in items)
            rows.append(
                {
                    "tenant": tenant,
                    "skill": skill,
                    "tasks": len(items),
                    **{name: counts.get(name, 0) for name in OUTCOMES},
                    "retried": self.retried.get((tenant, skill), 0),
                    "p50_ms": round(_percentile(latencies, 50), 2),
                    "p95_ms": round(_percentile(latencies, 95), 2),
                }
            )
        return rows

    def totals(self) -> dict[str, int]:
        """Tasks by outcome over the whole run."""
        counts = Counter(o.outcome for o in self.outcomes.values())
        return {"tasks": len(self.outcomes), **{name: counts.get(name, 0) for name in OUTCOMES}}

    def as_json(self) -> dict[str, Any]:
        """The machine-readable summary ``chimera run --json`` prints."""
        return {
            "session": self.session,
            "elapsed_s": round(self.elapsed_s, 3),
            "totals": {**self.totals(), "retried": sum(self.retried.values())},
            "duplicates": self.duplicates,
            "by_tenant_skill": self.rows(),
        }


def _percentile(values: Sequence[float], pct: int) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]
