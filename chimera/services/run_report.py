"""What a run came to: each task's outcome, and the per-tenant, per-skill figures."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from chimera.models.config import PricingConfig
from chimera.models.pipeline import PipelineRun
from chimera.models.types import JsonValue
from chimera.services.usage import Tokens, cost_of

#: How a task ended, as the run summary and ``--out`` name it.
OUTCOMES = ("committed", "denied", "review", "dead_lettered", "cancelled")


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
    usage: dict[tuple[str, str, str], Tokens] = field(default_factory=dict)
    pricing: PricingConfig = field(default_factory=PricingConfig)
    runs: list[PipelineRun] = field(default_factory=list)
    """The pipeline runs started, as they stood at the end."""

    def rows(self) -> list[dict[str, Any]]:
        """One row per tenant and skill: outcomes, retries, p50/p95 latency (ms), tokens, cost.

        ``cost`` is ``None`` when a model the group used has no price in ``pricing:``.
        """
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
                    **self._spend(tenant, skill),
                }
            )
        return rows

    def _spend(self, tenant: str, skill: str) -> dict[str, Any]:
        used = {k: v for k, v in self.usage.items() if k[:2] == (tenant, skill)}
        cost = cost_of(used, self.pricing.models)
        return {
            "input_tokens": sum(t.input for t in used.values()),
            "output_tokens": sum(t.output for t in used.values()),
            "cost": None if cost is None else round(cost, 6),
        }

    def unpriced(self) -> list[str]:
        """Models that used tokens but have no price under ``pricing.models``."""
        return sorted(
            {
                model
                for (_, _, model), tokens in self.usage.items()
                if (tokens.input or tokens.output) and model not in self.pricing.models
            }
        )

    def spend(self) -> dict[str, Any]:
        """Tokens and cost over the whole run (``cost`` ``None``: a model has no price)."""
        cost = cost_of(self.usage, self.pricing.models)
        return {
            "input_tokens": sum(t.input for t in self.usage.values()),
            "output_tokens": sum(t.output for t in self.usage.values()),
            "cost": None if cost is None else round(cost, 6),
            "currency": self.pricing.currency,
        }

    def tasks(self) -> list[TaskOutcome]:
        """Every task's outcome, ordered by tenant, skill and task id."""
        return sorted(self.outcomes.values(), key=lambda o: (o.tenant, o.skill, o.task_id))

    def totals(self) -> dict[str, int]:
        """Tasks by outcome over the whole run."""
        counts = Counter(o.outcome for o in self.outcomes.values())
        return {"tasks": len(self.outcomes), **{name: counts.get(name, 0) for name in OUTCOMES}}

    def as_json(self) -> dict[str, Any]:
        """The machine-readable summary ``chimera run --json`` prints, with every task."""
        return {
            "session": self.session,
            "elapsed_s": round(self.elapsed_s, 3),
            "totals": {**self.totals(), "retried": sum(self.retried.values()), **self.spend()},
            "duplicates": self.duplicates,
            "by_tenant_skill": self.rows(),
            "unpriced_models": self.unpriced(),
            "tasks": [o.as_json() for o in self.tasks()],
            "runs": [run_summary(run) for run in self.runs],
        }


def run_summary(run: PipelineRun) -> dict[str, Any]:
    """One pipeline run as the report shows it: outcome, reason, steps, output."""
    return {
        "run_id": run.id,
        "pipeline": run.pipeline,
        "tenant": run.tenant,
        "state": run.state.value,
        "failed_step": run.failed_step,
        "reason": run.reason,
        "steps": {name: step.state.value for name, step in run.steps.items()},
        "tasks": sum(len(step.tasks) for step in run.steps.values()),
        "output": run.output,
    }


def _percentile(values: Sequence[float], pct: int) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]
