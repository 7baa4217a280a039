"""How each record chimera stores is written and read back: one module per record.

=================  ===================================  ==========================
record             where it is kept                     module
=================  ===================================  ==========================
review item        ``{T}:review`` hash, per task id     ``review_item``
committed result   ``{T}:committed`` hash, per task id  ``committed_result``
dead letter        ``body`` of a ``{T}:dlq`` entry      ``dead_letter``
settled row        ``{T}:settled`` hash, per task id    ``settled``
session            ``{T}:session:<id>`` hash            ``session``
audit record       ``{T}:audit`` stream entry           ``audit_record``
=================  ===================================  ==========================

Each module has ``encode`` and ``decode``. ``decode`` raises :class:`RecordError` (one
line saying what is wrong) for a stored record it cannot read, so a listing can skip that
record with its reason instead of failing as a whole. Tasks and Results are pydantic models
stored as their own JSON (the ledger row, a stream entry's ``body``). ``task_status``
reads a task's state off its rows in the four hashes.
"""

from __future__ import annotations


class RecordError(ValueError):
    """A stored record that cannot be read back; the message says why, in one line."""
