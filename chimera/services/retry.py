"""When to try a failed task again: exponential backoff with jitter and a cap."""

from __future__ import annotations

import random
from dataclasses import dataclass

from chimera.models.config import RetryConfig


@dataclass(frozen=True)
class Backoff:
    """Delay before attempt ``n + 1`` after attempt ``n`` failed.

    ``base * 2 ** (n - 1)``, capped at ``cap``, then spread by ``±jitter`` (a fraction) so
    that tasks failing together do not all come back in the same instant; never above
    ``cap``.
    """

    base: float
    cap: float
    jitter: float = 0.2

    @classmethod
    def from_config(cls, config: RetryConfig) -> Backoff:
        """Build from a skill's ``retry`` block."""
        return cls(base=config.backoff_base_s, cap=config.backoff_max_s, jitter=config.jitter)

    def delay(
        self, attempt: int, rng: random.Random | None = None, hint: float | None = None
    ) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based).

        Args:
            attempt: the attempt that just failed.
            rng: random source for the jitter (tests pass a seeded one).
            hint: the backend's Retry-After, used when longer than the computed delay.
        """
        exponential = min(self.cap, self.base * 2.0 ** max(0, attempt - 1))
        uniform = rng.uniform if rng is not None else random.uniform
        spread = uniform(-self.jitter, self.jitter)
        delay = min(self.cap, max(0.0, exponential * (1 + spread)))
        if hint is not None:
            delay = min(self.cap, max(delay, hint))
        return delay
