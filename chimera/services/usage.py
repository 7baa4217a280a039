"""Token usage and its cost: a tally fed by the metrics port, and prices from swarm.yaml.

``chimera run`` gives its Worker a :class:`UsageTally` (beside Prometheus, if that is on,
through :class:`MetricsTee`), so the run's summary counts exactly the tokens the metrics
count: every LLM call's reported usage, including calls of attempts that failed later.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from chimera.models.config import ModelPrice
from chimera.ports.metrics import Metrics, NoMetrics
from chimera.ports.queue import TenantStats

#: Tokens per million, the unit prices are given in.
MILLION = 1_000_000


@dataclass
class Tokens:
    """Input and output tokens of some calls."""

    input: int = 0
    output: int = 0

    def cost(self, price: ModelPrice | None) -> float | None:
        """What these tokens cost at ``price`` (``None``: no price, unless no tokens)."""
        if price is None:
            return 0.0 if not (self.input or self.output) else None
        return (self.input * price.input + self.output * price.output) / MILLION


class UsageTally(NoMetrics):
    """Adds up the tokens of every LLM call by tenant, skill and model."""

    def __init__(self) -> None:
        self.tokens: dict[tuple[str, str, str], Tokens] = {}

    @property
    def enabled(self) -> bool:
        """Always True: the tally wants every call."""
        return True

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
        """Add the call's tokens."""
        tokens = self.tokens.setdefault((tenant, skill, model), Tokens())
        tokens.input += input_tokens
        tokens.output += output_tokens


def cost_of(
    usage: Mapping[tuple[str, str, str], Tokens], prices: Mapping[str, ModelPrice]
) -> float | None:
    """The cost of ``usage`` (keys: tenant, skill, model); ``None`` if a used model has no price."""
    total = 0.0
    for (_, _, model), tokens in usage.items():
        cost = tokens.cost(prices.get(model))
        if cost is None:
            return None
        total += cost
    return total


class MetricsTee:
    """Hands every call on to each of ``sinks`` (Prometheus and a tally, say)."""

    def __init__(self, sinks: Sequence[Metrics]) -> None:
        self.sinks = list(sinks)

    @property
    def enabled(self) -> bool:
        """True if any sink collects."""
        return any(sink.enabled for sink in self.sinks)

    def task_settled(self, tenant: str, skill: str, outcome: str, seconds: float) -> None:
        """Forward."""
        for sink in self.sinks:
            sink.task_settled(tenant, skill, outcome, seconds)

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
        """Forward."""
        for sink in self.sinks:
            sink.llm_call(
                tenant, skill, provider, model, seconds, input_tokens, output_tokens, error_type
            )

    def tool_call(self, server: str, tool: str, outcome: str, seconds: float) -> None:
        """Forward."""
        for sink in self.sinks:
            sink.tool_call(server, tool, outcome, seconds)

    def verdict(self, tenant: str, skill: str, verdict: str, policy: str) -> None:
        """Forward."""
        for sink in self.sinks:
            sink.verdict(tenant, skill, verdict, policy)

    def retried(self, tenant: str, skill: str, by: str) -> None:
        """Forward."""
        for sink in self.sinks:
            sink.retried(tenant, skill, by)

    def track_in_flight(self, count: Callable[[], int]) -> None:
        """Forward."""
        for sink in self.sinks:
            sink.track_in_flight(count)

    def queue_stats(self, stats: TenantStats) -> None:
        """Forward."""
        for sink in self.sinks:
            sink.queue_stats(stats)

    def queue_unreadable(self, tenant: str) -> None:
        """Forward."""
        for sink in self.sinks:
            sink.queue_unreadable(tenant)

    def quota_throttled(self, tenant: str, limit: str) -> None:
        """Forward."""
        for sink in self.sinks:
            sink.quota_throttled(tenant, limit)
