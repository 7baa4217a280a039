"""A heartbeat: what a live Worker/Judge process says about itself, per tenant it serves."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["worker", "judge"]


class Throughput(BaseModel):
    """What one process saw end for one tenant over its recent window."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    settled: int = Field(ge=0, description="Tasks that ended in the window.")
    window_s: float = Field(gt=0, description="The window's length, in seconds.")
    p95_ms: float | None = Field(
        default=None, ge=0, description="95th percentile of their age at the end (ms)."
    )

    @property
    def rate(self) -> float:
        """Tasks ended per second."""
        return self.settled / self.window_s


class Heartbeat(BaseModel):
    """One process's record under one tenant, refreshed every few seconds.

    A record whose ``beat_at + ttl_s`` has passed is a process that died (or hangs): it is
    not counted as live.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    consumer: str = Field(min_length=1, max_length=256)
    roles: list[Role] = Field(min_length=1)
    host: str
    pid: int
    version: str
    tenants: list[str]
    concurrency: int = Field(ge=0)
    in_flight: int = Field(ge=0)
    fingerprint: str = Field(description="Digest of the swarm configuration it runs.")
    started_at: datetime
    beat_at: datetime
    ttl_s: float = Field(gt=0)
    throughput: Throughput | None = None

    @property
    def expires_at(self) -> datetime:
        """When this record stops counting as live."""
        return self.beat_at + timedelta(seconds=self.ttl_s)

    def live_at(self, now: datetime) -> bool:
        """Whether the process counts as live at ``now``."""
        return now < self.expires_at
