"""The committed Result: the Result JSON under its task id in ``{T}:committed``.

Written once per task (``HSETNX``) by ``JUDGE_APPLY`` (approve) and ``REVIEW_DECIDE``
(approve); read by ``chimera results`` and task lookups.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError

from chimera.lib.logging import get_logger
from chimera.lib.records import RecordError
from chimera.models.result import Result

log = get_logger("chimera.records")


def encode(result: Result) -> str:
    """The stored JSON of ``result``."""
    return result.model_dump_json()


def decode(text: str) -> Result:
    """Read a committed Result.

    Raises:
        RecordError: not a valid Result (written by another chimera version, or by hand).
    """
    try:
        return Result.model_validate_json(text)
    except ValidationError as exc:
        raise RecordError(f"committed result does not validate: {exc.errors()[0]['msg']}") from None


def readable(tenant: str, stored: Mapping[str, str]) -> list[Result]:
    """The readable Results of a tenant's committed hash, in task id order.

    One that cannot be read is left out with a warning naming its task id and why.
    """
    results = []
    for task_id in sorted(stored):
        try:
            results.append(decode(stored[task_id]))
        except RecordError as exc:
            log.warning("results.unreadable", tenant=tenant, task_id=task_id, problem=str(exc))
    return results
