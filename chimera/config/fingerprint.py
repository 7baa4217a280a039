"""A short digest of a swarm's configuration, so processes running different ones show it."""

from __future__ import annotations

import hashlib

from chimera.config.swarm import Swarm


def swarm_fingerprint(swarm: Swarm) -> str:
    """12 hex digits of SHA-256 over the swarm file's settings and every skill's.

    Two processes with the same fingerprint run the same tenants, skills, prompts, schemas
    and Judge settings; file paths, comments and key order do not change it.
    """
    digest = hashlib.sha256(swarm.config.model_dump_json().encode())
    for name in sorted(swarm.skills):
        digest.update(swarm.skills[name].config.model_dump_json().encode())
    return digest.hexdigest()[:12]
