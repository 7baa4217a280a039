"""How each record chimera stores is written and read back: one module per record.

=================  ===================================  ==========================
record             where it is kept                     module
=================  ===================================  ==========================
review item        ``{T}:review`` hash, per task id     ``review_item``
committed result   ``{T}:committed`` hash, per task id  ``committed_result``
dead letter        ``body`` of a ``{T}:dlq`` entry      ``dead_letter``
settled row        ``{T}:settled`` hash, per task id    ``settled``
session            ``{T}:session:<id>`` hash            ``session``
=================  ===================================  ==========================

Each module has ``encode`` and ``decode``. ``decode`` raises :class:`RecordError` (one
line saying what is wrong) for a stored record it cannot read, so a listing can skip that
record with its reason instead of failing as a whole. Tasks, Results and audit records are
pydantic models and are stored as their own JSON.
"""

from __future__ import annotations


class RecordError(ValueError):
    """A stored record that cannot be read back; the message says why, in one line."""
