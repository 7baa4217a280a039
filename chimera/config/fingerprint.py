"""Short, stable digests of a skill's and a swarm's validated configuration.

A Task carries the fingerprint of the skill definition it was planned with, so a worker
running another definition can tell. Two files that mean the same thing (other key
order, comments, flow or block style, a default written out or left implicit) give the
same fingerprint; any change to a value gives another.

A ``${VAR}`` counts as written, not as the value it had: machines that hold different
secrets (each its own API key) agree on the fingerprint, and the digest is never computed
over a secret.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from chimera.config.yaml_source import Loc, SourceMap

if TYPE_CHECKING:
    from chimera.config.swarm import Swarm

#: Hex digits in a skill's fingerprint (64 bits) and in a swarm's (48 bits, the length
#: heartbeats and ``chimera status`` show): plenty to tell definitions apart.
FINGERPRINT_LENGTH = 16
SWARM_FINGERPRINT_LENGTH = 12


def fingerprint(
    model: BaseModel, source: SourceMap | None, *extra: Any, length: int = FINGERPRINT_LENGTH
) -> str:
    """Digest of ``model``'s validated values (as written) and of any ``extra`` JSON values."""
    data = model.model_dump(mode="json")
    if source is not None and source.written:
        data = _as_written(data, (), source)
    canonical = json.dumps(
        [data, *extra], sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    digest = hashlib.blake2b(canonical.encode(), digest_size=length // 2)
    return digest.hexdigest()


def _as_written(value: Any, loc: Loc, source: SourceMap) -> Any:
    if isinstance(value, dict):
        return {key: _as_written(item, (*loc, key), source) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_written(item, (*loc, index), source) for index, item in enumerate(value)]
    written = source.written_at(loc)
    return written[0] if written is not None else value


def swarm_fingerprint(swarm: Swarm) -> str:
    """The fingerprint processes report in heartbeats: :attr:`Swarm.fingerprint`.

    Two processes with the same fingerprint run the same tenants, skills, prompts, schemas
    and Judge settings; file paths, comments and key order do not change it.
    """
    return swarm.fingerprint
