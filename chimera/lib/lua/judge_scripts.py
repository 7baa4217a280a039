"""Typed wrappers of the scripts that settle tasks: the Judge's commit, human review, replay.

What each script checks and does is written at the top of its ``.lua`` file.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

from chimera.lib.fields import JudgeAction, ReviewChoice, ReviewReply
from chimera.lib.keys import TenantKeys
from chimera.lib.lua.source import load
from chimera.lib.lua.wrapper import PendingEvent, ScriptKeys, as_flag, pending_args
from chimera.lib.redis_lua import Call, Lua
from chimera.ports.judge import CommitOutcome

JUDGE_APPLY = load("judge_apply")
REVIEW_DECIDE = load("review_decide")
REPLAY_DEAD_LETTER = load("replay_dead_letter")
DEAD_LETTER_RESULT = load("dead_letter_result")


def as_outcomes(reply: Any) -> list[CommitOutcome]:
    """A ``JUDGE_APPLY`` reply: one outcome per item."""
    return [CommitOutcome(str(outcome)) for outcome in reply]


def as_review_reply(reply: Any) -> ReviewReply:
    """A ``REVIEW_DECIDE`` reply."""
    return ReviewReply(str(reply))


@dataclass(frozen=True)
class JudgeApply(ScriptKeys):
    """``judge_apply.lua``: apply the Judge's decisions on Results of one session; ack them."""

    SCRIPT: ClassVar[Lua] = JUDGE_APPLY

    results: str
    ledger: str
    committed: str
    settled: str
    review: str
    delayed: str
    delayed_traces: str
    session: str
    audit_pending: str

    @classmethod
    def of(cls, keys: TenantKeys, session_id: str) -> JudgeApply:
        """The keys of a task of ``session_id`` (``fields.UNKNOWN_SESSION`` when none).

        One instance per tenant and session, kept: the Judge asks for it for every Result.
        """
        return _judge_apply(keys, session_id)

    def call(self, *, group: str, items: Sequence[ApplyItem]) -> Call[list[CommitOutcome]]:
        """Apply ``items`` (Results of this tenant and session), in order, in one call.

        Reply: what was done, per item.
        """
        rest = [value for item in items for value in item.args()]
        return self._call(as_outcomes, rest, group=group)


class ApplyItem(NamedTuple):
    """One Result's part of a ``JUDGE_APPLY`` call.

    Attributes:
        entry_id: the Result's entry.
        task_id: the task it answers (``""`` when it may not be matched: a forgery).
        action: what to do.
        expected_row: the ledger row as looked up (``""`` for ``reject``).
        payload: Result JSON (approve), review item JSON (review), next attempt's JSON
            (retry), else ``""``.
        due: epoch seconds of the next attempt (retry), else 0.
        event: the audit event of the outcome asked for, kept if it happens.
        duplicate_id: the id of the event kept if the Result turns out a duplicate:
            ``event`` under that id, as :func:`~chimera.ports.judge.duplicate_event` makes
            it (``""``, or no ``event``: none is kept).
        traceparent: the trace context the next attempt continues from (retry), else
            ``""``.
    """

    entry_id: str
    task_id: str
    action: JudgeAction
    expected_row: str
    payload: str
    due: float
    event: PendingEvent = None
    duplicate_id: str = ""
    traceparent: str = ""

    def args(self) -> tuple[str | float, ...]:
        """The item's arguments, in the script's order."""
        event_id, event_json = pending_args(self.event)
        return (
            self.entry_id,
            self.task_id,
            self.action.value,
            self.expected_row,
            self.payload,
            self.due,
            event_id,
            event_json,
            self.duplicate_id,
            self.traceparent,
        )


@functools.lru_cache(maxsize=4096)
def _judge_apply(keys: TenantKeys, session_id: str) -> JudgeApply:
    return JudgeApply(
        results=keys.results,
        ledger=keys.ledger,
        committed=keys.committed,
        settled=keys.settled,
        review=keys.review,
        delayed=keys.delayed,
        delayed_traces=keys.delayed_traces,
        session=keys.session(session_id),
        audit_pending=keys.audit_pending,
    )


@dataclass(frozen=True)
class ReviewDecide(ScriptKeys):
    """``review_decide.lua``: apply a human's decision to a parked Result."""

    SCRIPT: ClassVar[Lua] = REVIEW_DECIDE

    ledger: str
    committed: str
    settled: str
    review: str
    session: str
    audit_pending: str

    @classmethod
    def of(cls, keys: TenantKeys, session_id: str) -> ReviewDecide:
        """The keys of a task of ``session_id``."""
        return cls(
            ledger=keys.ledger,
            committed=keys.committed,
            settled=keys.settled,
            review=keys.review,
            session=keys.session(session_id),
            audit_pending=keys.audit_pending,
        )

    def call(
        self,
        *,
        task_id: str,
        choice: ReviewChoice,
        result_json: str,
        event: PendingEvent = None,
        duplicate: PendingEvent = None,
    ) -> Call[ReviewReply]:
        """Reply: committed, denied, duplicate or missing (the matching event kept)."""
        event_id, event_json = pending_args(event)
        duplicate_id, duplicate_json = pending_args(duplicate)
        return self._call(
            as_review_reply,
            task_id=task_id,
            choice=choice.value,
            result_json=result_json,
            event_id=event_id,
            event_json=event_json,
            duplicate_id=duplicate_id,
            duplicate_json=duplicate_json,
        )


@dataclass(frozen=True)
class ReplayDeadLetter(ScriptKeys):
    """``replay_dead_letter.lua``: put a dead-lettered task back in the task stream."""

    SCRIPT: ClassVar[Lua] = REPLAY_DEAD_LETTER

    tasks: str
    ledger: str
    settled: str
    dlq: str
    session: str

    @classmethod
    def of(cls, keys: TenantKeys, session_id: str) -> ReplayDeadLetter:
        """The keys of a task of ``session_id``."""
        return cls(
            tasks=keys.tasks,
            ledger=keys.ledger,
            settled=keys.settled,
            dlq=keys.dlq,
            session=keys.session(session_id),
        )

    def call(self, *, dead_letter_id: str, task_id: str, task_json: str) -> Call[bool]:
        """Reply: whether the task was replayed."""
        return self._call(
            as_flag,
            dead_letter_id=dead_letter_id,
            task_id=task_id,
            task_json=task_json,
        )


@dataclass(frozen=True)
class DeadLetterResult(ScriptKeys):
    """``dead_letter_result.lua``: dead-letter a task whose Result no Judge could judge."""

    SCRIPT: ClassVar[Lua] = DEAD_LETTER_RESULT

    results: str
    ledger: str
    settled: str
    review: str
    dlq: str
    session: str
    audit_pending: str

    @classmethod
    def of(cls, keys: TenantKeys, session_id: str) -> DeadLetterResult:
        """The keys of a task of ``session_id``."""
        return cls(
            results=keys.results,
            ledger=keys.ledger,
            settled=keys.settled,
            review=keys.review,
            dlq=keys.dlq,
            session=keys.session(session_id),
            audit_pending=keys.audit_pending,
        )

    def call(
        self,
        *,
        group: str,
        entry_id: str,
        task_id: str,
        expected_row: str,
        letter_json: str,
        event: PendingEvent = None,
    ) -> Call[bool]:
        """Reply: whether the dead letter was written.

        Args:
            group: the Judges' consumer group.
            entry_id: the Result's entry (acked and deleted whatever happens).
            task_id: the task to give up on.
            expected_row: its ledger row as looked up.
            letter_json: the dead letter.
            event: its ``dead_lettered`` audit event, kept if it is written.
        """
        event_id, event_json = pending_args(event)
        return self._call(
            as_flag,
            group=group,
            entry_id=entry_id,
            task_id=task_id,
            expected_row=expected_row,
            letter_json=letter_json,
            event_id=event_id,
            event_json=event_json,
        )
