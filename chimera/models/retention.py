"""The ``retention:`` block of swarm.yaml: how long, and how many, of each stored kind to keep.

Every limit is optional and every default keeps everything, as chimera did before
retention existed: what a swarm must keep (results, decisions, audit records) is the
operator's call, not ours. Only acknowledged stream entries, which nobody can read
anyway, are trimmed unless told otherwise. See ``docs/retention.md``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0, "w": 604_800.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")


def parse_duration(value: Any) -> Any:
    """Seconds from ``"7d"``, ``"12h"``, ``"30m"``, ``"45s"``, ``"500ms"``, ``"2w"`` or a number.

    Anything else is handed on unchanged, for pydantic to refuse with its own message.

    Raises:
        ValueError: a string that is not a number followed by one of the units.
    """
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise ValueError(
                f"{value!r} is not a duration: write a number and a unit "
                "(ms, s, m, h, d, w), e.g. 7d or 12h"
            )
        return float(match.group(1)) * _UNITS[match.group(2)]
    return value


#: A duration in seconds, written in swarm.yaml as ``7d``, ``12h``, ``30m`` or a number of seconds.
Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    Field(gt=0),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": _DURATION.pattern},
                {"type": "number", "exclusiveMinimum": 0},
            ],
            "description": "A duration: a number and a unit (ms, s, m, h, d, w) or seconds.",
        }
    ),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Keep(_Strict):
    """How much of one kind to keep: younger than ``max_age``, among the newest ``max_count``.

    Both limits apply when both are given; neither (the default) keeps everything.
    """

    max_age: Duration | None = Field(default=None, description="Trim what is older than this.")
    max_count: int | None = Field(
        default=None, ge=0, description="Keep at most this many, the newest."
    )

    @property
    def keeps_all(self) -> bool:
        """True when this policy trims nothing."""
        return self.max_age is None and self.max_count is None


class RetentionConfig(_Strict):
    """What a tenant's keys keep, and how often the Workers sweep the rest away.

    Age counts from a record's own time: a task's submission (its ULID id) for committed
    results and settled marks, a session's creation, a dead letter's or audit record's
    writing.
    """

    sweep_every: Duration = Field(
        default=60.0, description="How often one Worker per tenant sweeps (e.g. 1m)."
    )
    committed: Keep = Field(default_factory=Keep, description="Committed Results.")
    settled: Keep = Field(
        default_factory=Keep,
        description="Settled marks (how a task ended) with their cancellation records.",
    )
    sessions: Keep = Field(
        default_factory=Keep, description="Finished sessions (every task settled, none in review)."
    )
    dead_letters: Keep = Field(default_factory=Keep, description="Dead-lettered tasks.")
    audit: Keep = Field(
        default_factory=Keep,
        description="Audit records of the `redis` sink; trimmed behind a checkpoint record.",
    )
    acked_entries: bool = Field(
        default=True,
        description="Trim task and result stream entries every consumer group has "
        "acknowledged (never a pending or undelivered one).",
    )

    @property
    def kinds(self) -> dict[str, Keep]:
        """The policies by kind name, in sweep order."""
        return {
            "committed": self.committed,
            "settled": self.settled,
            "sessions": self.sessions,
            "dead_letters": self.dead_letters,
            "audit": self.audit,
        }
