"""Ports for what operators look at and act on: review items, dead letters, committed results."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from chimera.models.decision import Decision
from chimera.models.result import Result
from chimera.models.task import Task


@dataclass(frozen=True)
class ReviewItem:
    """A Result waiting for a human, with its Task and the Judge's decision."""

    task: Task
    result: Result
    decision: Decision


@dataclass(frozen=True)
class DeadLetterEntry:
    """A dead-lettered task as stored: why, after how many attempts, with what error."""

    entry_id: str
    tenant: str
    task: Task | None
    reason: str
    attempts: int
    last_error: str | None
    raw: dict[str, Any]


class ReviewStore(Protocol):
    """Results parked for a human. All methods are ``async``; items survive restarts."""

    async def list(self, tenant: str) -> list[ReviewItem]:
        """Every item waiting in ``tenant``'s queue."""
        ...

    async def decide(self, tenant: str, item: ReviewItem, approve: bool) -> str:
        """Commit (``approve``) or deny the item atomically.

        Returns:
            ``committed``, ``denied``, ``duplicate`` or ``missing`` (someone else decided).
        """
        ...


class DeadLetterStore(Protocol):
    """Dead-lettered tasks. All methods are ``async``."""

    async def list(self, tenant: str) -> list[DeadLetterEntry]:
        """Every dead letter of ``tenant``, oldest first."""
        ...

    async def replay(self, tenant: str, entry: DeadLetterEntry, task: Task) -> bool:
        """Put ``task`` back in the stream and drop the dead letter; False if already gone."""
        ...


class ResultStore(Protocol):
    """Committed Results (async)."""

    async def committed(self, tenant: str) -> list[Result]:
        """Every committed Result of ``tenant``."""
        ...
