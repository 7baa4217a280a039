"""What ``ADMIT_TASKS`` answers, as the queue port's :class:`Admission`.

Shared by the Redis adapter and the in-memory fake, so both give the same reasons.
"""

from __future__ import annotations

from chimera.lib.fields import AdmitReply
from chimera.models.task import Task
from chimera.ports.queue import ADMIT, Admission, AdmitAction, Delivery


def undecodable(delivery: Delivery[Task]) -> Admission:
    """The admission of an entry that did not decode: dead-letter it, saying why."""
    return Admission(AdmitAction.DEAD_LETTER, f"undecodable task entry: {delivery.problem}")


def admission(delivery: Delivery[Task], reply: AdmitReply) -> Admission:
    """The admission of a decoded entry, from the script's answer about it."""
    task = delivery.message
    assert task is not None
    if reply is AdmitReply.RUN:
        return ADMIT
    if reply is AdmitReply.HALTED:
        return Admission(AdmitAction.WAIT, f"session {task.session!r} is halted")
    if reply is AdmitReply.UNKNOWN:
        return Admission(
            AdmitAction.DEAD_LETTER,
            f"task {task.id} is not in tenant {delivery.tenant!r}'s ledger "
            "(forged, another tenant's, or never submitted)",
        )
    if reply is AdmitReply.SETTLED:
        return Admission(AdmitAction.DISCARD, f"a stale copy: task {task.id} has settled")
    if reply is AdmitReply.REVIEW:
        return Admission(
            AdmitAction.DISCARD, f"a stale copy: task {task.id} waits for a human's review"
        )
    return Admission(
        AdmitAction.DISCARD,
        f"a stale copy: the ledger holds another version of task {task.id} "
        f"(this entry is attempt {task.attempt})",
    )
