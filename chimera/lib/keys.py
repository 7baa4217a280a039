"""Every Redis key name chimera uses, built in this one module.

All of a tenant's keys carry the tenant as a Redis Cluster hash tag (``{acme}``) so they
share one slot: the Lua scripts and MULTI blocks that touch several of them stay legal on a
cluster. Lua scripts receive their keys from here through ``KEYS`` and never build names.
What is stored inside the keys (fields, counters, states) is named in ``fields.py``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from chimera.models.types import is_safe_id

DEFAULT_PREFIX = "chimera"

#: Consumer group of the Workers on each tenant's task stream.
WORKER_GROUP = "workers"
#: Consumer group of the Judges on each tenant's result stream.
JUDGE_GROUP = "judges"


@dataclass(frozen=True)
class TenantKeys:
    """The keys of one tenant under one prefix."""

    prefix: str
    tenant: str

    def __post_init__(self) -> None:
        if not is_safe_id(self.tenant):
            raise ValueError(f"unsafe tenant id {self.tenant!r}")

    @functools.cached_property
    def base(self) -> str:
        """``<prefix>:{<tenant>}``: the part every key of this tenant starts with."""
        return f"{self.prefix}:{{{self.tenant}}}"

    @functools.cached_property
    def tasks(self) -> str:
        """Stream of Tasks waiting for a Worker."""
        return f"{self.base}:tasks"

    @functools.cached_property
    def results(self) -> str:
        """Stream of Results waiting for the Judge."""
        return f"{self.base}:results"

    @functools.cached_property
    def ledger(self) -> str:
        """Hash task id → Task JSON of every task not yet settled (Judge checks against it)."""
        return f"{self.base}:ledger"

    @functools.cached_property
    def committed(self) -> str:
        """Hash task id → committed Result JSON; written once per task (HSETNX)."""
        return f"{self.base}:committed"

    @functools.cached_property
    def settled(self) -> str:
        """Hash task id → how the task ended (committed, denied, dead_lettered)."""
        return f"{self.base}:settled"

    @functools.cached_property
    def review(self) -> str:
        """Hash task id → review item JSON, for results parked for a human."""
        return f"{self.base}:review"

    @functools.cached_property
    def delayed(self) -> str:
        """Sorted set of Task JSON scored by the time it may run again (retries)."""
        return f"{self.base}:delayed"

    @functools.cached_property
    def delayed_traces(self) -> str:
        """Hash task id → the W3C trace context its delayed next attempt continues from."""
        return f"{self.base}:delayed:traces"

    @functools.cached_property
    def dlq(self) -> str:
        """Stream of dead-lettered tasks with their reason."""
        return f"{self.base}:dlq"

    @functools.cached_property
    def audit(self) -> str:
        """Stream of hash-chained audit records."""
        return f"{self.base}:audit"

    @functools.cached_property
    def audit_head(self) -> str:
        """Hash holding the sequence number and hash of the newest audit record."""
        return f"{self.base}:audit:head"

    @functools.cached_property
    def audit_ids(self) -> str:
        """Hash event id → ``seq:hash`` of its record.

        Each id is stored once, and each record's hash has a second witness here, so a
        record altered and re-hashed is found where it is, not at the next record.
        """
        return f"{self.base}:audit:ids"

    @functools.cached_property
    def audit_pending(self) -> str:
        """Hash event id → event JSON of events waiting for the audit sinks.

        A script writes the event in the same atomic step as what it reports; it is removed
        once the sinks took it, and a sweep sends any a crash left behind.
        """
        return f"{self.base}:audit:pending"

    @functools.cached_property
    def audit_checkpoint(self) -> str:
        """Hash with the ``seq`` and ``hash`` of the last audit record trimmed away.

        The oldest record kept links to it, and a ``checkpoint`` record in the chain repeats
        it, so the trimmed chain still verifies (``docs/retention.md``).
        """
        return f"{self.base}:audit:checkpoint"

    @functools.cached_property
    def retention_lock(self) -> str:
        """String naming the process sweeping this tenant's keys, with the lease as its TTL."""
        return f"{self.base}:retention:lock"

    @functools.cached_property
    def retention_due(self) -> str:
        """String whose presence means a Worker swept this tenant lately (its TTL: the period)."""
        return f"{self.base}:retention:due"

    @functools.cached_property
    def heartbeats(self) -> str:
        """Hash consumer name → heartbeat JSON of each live Worker/Judge process serving us."""
        return f"{self.base}:heartbeats"

    @functools.cached_property
    def cancelled(self) -> str:
        """Hash task id → who cancelled the task, why and when (JSON)."""
        return f"{self.base}:cancelled"

    @functools.cached_property
    def quota(self) -> str:
        """Hash of this tenant's shared rate-limit state: the token bucket and throttling."""
        return f"{self.base}:quota"

    @functools.cached_property
    def usage(self) -> str:
        """Hash UTC day (``YYYY-MM-DD``) → LLM tokens of the Results published that day."""
        return f"{self.base}:usage"

    @functools.cached_property
    def runs(self) -> str:
        """Hash run id → the pipeline run's JSON (its steps, their tasks and outputs)."""
        return f"{self.base}:runs"

    @functools.cached_property
    def run_versions(self) -> str:
        """Hash run id → how many times the run was written: the compare-and-set of a write."""
        return f"{self.base}:runs:versions"

    @functools.cached_property
    def runs_active(self) -> str:
        """Set of the ids of runs unfinished or with tasks open: what the run sweep looks at."""
        return f"{self.base}:runs:active"

    @functools.cached_property
    def sessions(self) -> str:
        """Set of this tenant's session ids."""
        return f"{self.base}:sessions"

    @functools.lru_cache(maxsize=1024)  # noqa: B019 - a few TenantKeys live for the process
    def session(self, session_id: str) -> str:
        """Hash with one session's state and counters."""
        if not is_safe_id(session_id):
            raise ValueError(f"unsafe session id {session_id!r}")
        return f"{self.base}:session:{session_id}"

    def session_tasks(self, session_id: str) -> str:
        """Set of the ids of every task submitted into one session."""
        return f"{self.session(session_id)}:tasks"


@dataclass(frozen=True)
class Keyspace:
    """Key names for every tenant under one prefix (tests use their own prefix)."""

    prefix: str = DEFAULT_PREFIX

    def tenant(self, tenant: str) -> TenantKeys:
        """Return the keys of ``tenant``.

        Built once per prefix and tenant: on the hot path every batch asks for them.
        """
        return _tenant_keys(self.prefix, tenant)


@functools.lru_cache(maxsize=4096)
def _tenant_keys(prefix: str, tenant: str) -> TenantKeys:
    return TenantKeys(prefix, tenant)
