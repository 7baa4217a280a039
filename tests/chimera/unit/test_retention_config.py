"""The retention block: durations, defaults that keep everything, errors at their line; the
sweep's rules (lease, period, kinds left alone) over a recording store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from chimera.config.errors import ConfigError
from chimera.config.loader import load_swarm
from chimera.lib.ulid_time import prefix_time, time_prefix
from chimera.models.retention import Keep, RetentionConfig, parse_duration
from chimera.models.types import new_id
from chimera.services.retention import KINDS, RetentionSweep
from tests.chimera.helpers import write_swarm


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("45s", 45),
        ("30m", 1800),
        ("12h", 43_200),
        ("7d", 604_800),
        ("2w", 1_209_600),
        ("1.5h", 5400),
        (90, 90),
    ],
)
def test_durations_read_as_seconds(text: Any, seconds: float) -> None:
    assert parse_duration(text) == seconds
    assert Keep(max_age=text).max_age == seconds


@pytest.mark.parametrize("text", ["7", "7x", "d7", "", "-1d", "7 days"])
def test_a_duration_without_a_known_unit_is_refused(text: str) -> None:
    with pytest.raises(ValidationError, match="not a duration"):
        Keep(max_age=text)


def test_by_default_everything_is_kept_but_acknowledged_entries() -> None:
    config = RetentionConfig()
    assert all(keep.keeps_all for keep in config.kinds.values())
    assert config.acked_entries is True
    assert config.sweep_every == 60


def test_a_bad_retention_block_is_reported_at_its_line(tmp_path: Path) -> None:
    write_swarm(tmp_path)
    path = tmp_path / "swarm.yaml"
    config = yaml.safe_load(path.read_text())
    config["retention"] = {"committed": {"max_age": "7x"}, "audit": {"max_count": -1}}
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError) as caught:
        load_swarm(path)
    lines = str(caught.value).splitlines()
    assert any("retention.committed.max_age" in line and "not a duration" in line for line in lines)
    assert any("retention.audit.max_count" in line for line in lines)
    assert all(line.startswith(f"{path}:") for line in lines)


def test_ulid_time_prefixes_sort_like_the_ids() -> None:
    first = new_id()
    assert time_prefix(prefix_time(first)) == first[:10]
    assert time_prefix(prefix_time(first) - 1) < first < time_prefix(prefix_time(first) + 1)


class RecordingStore:
    """A :class:`~chimera.ports.retention.RetentionStore` that records what it was asked."""

    def __init__(self, held_by: str | None = None) -> None:
        self.held_by = held_by
        self.calls: list[str] = []
        self.claimed: set[str] = set()

    async def acquire(self, tenant: str, owner: str, ttl_s: float) -> bool:
        self.calls.append(f"acquire {tenant}")
        if self.held_by is not None:
            return False
        self.held_by = owner
        return True

    async def renew(self, tenant: str, owner: str, ttl_s: float) -> bool:
        return self.held_by == owner

    async def release(self, tenant: str, owner: str) -> None:
        self.calls.append(f"release {tenant}")
        self.held_by = None

    async def due(self, tenant: str, every_s: float) -> bool:
        if tenant in self.claimed:
            return False
        self.claimed.add(tenant)
        return True

    async def _trim(self, kind: str, tenant: str, dry_run: bool) -> int:
        self.calls.append(f"{kind} {tenant}{' dry' if dry_run else ''}")
        return 1

    async def trim_committed(self, tenant: str, keep: Keep, now: float, dry_run: bool) -> int:
        return await self._trim("committed", tenant, dry_run)

    async def trim_settled(self, tenant: str, keep: Keep, now: float, dry_run: bool) -> int:
        return await self._trim("settled", tenant, dry_run)

    async def trim_sessions(self, tenant: str, keep: Keep, now: float, dry_run: bool) -> int:
        return await self._trim("sessions", tenant, dry_run)

    async def trim_dead_letters(self, tenant: str, keep: Keep, now: float, dry_run: bool) -> int:
        return await self._trim("dead_letters", tenant, dry_run)

    async def trim_audit(
        self, tenant: str, keep: Keep, now: float, dry_run: bool, actor: str
    ) -> int:
        return await self._trim("audit", tenant, dry_run)

    async def trim_acked(self, tenant: str, dry_run: bool) -> int:
        return await self._trim("acked_entries", tenant, dry_run)


async def test_a_sweep_trims_only_kinds_with_a_policy_under_the_lease() -> None:
    store = RecordingStore()
    config = RetentionConfig(committed=Keep(max_age=60), audit=Keep(max_count=5))
    [report] = await RetentionSweep(store, config, ["acme"], "w1").sweep()
    assert store.calls == [
        "acquire acme",
        "committed acme",
        "audit acme",
        "acked_entries acme",
        "release acme",
    ]
    assert report.removed == dict.fromkeys(KINDS, 0) | {
        "committed": 1,
        "audit": 1,
        "acked_entries": 1,
    }


async def test_a_dry_run_takes_no_lease_and_a_held_lease_skips_the_tenant() -> None:
    store = RecordingStore(held_by="another")
    sweep = RetentionSweep(store, RetentionConfig(settled=Keep(max_age=1)), ["acme"], "w1")
    [dry] = await sweep.sweep(dry_run=True)
    assert dry.swept
    assert store.calls == ["settled acme dry", "acked_entries acme dry"]
    [busy] = await sweep.sweep()
    assert not busy.swept
    assert busy.total == 0


async def test_workers_sweep_each_tenant_once_per_period_and_not_at_all_when_off() -> None:
    store = RecordingStore()
    sweep = RetentionSweep(store, RetentionConfig(), ["acme", "globex"], "w1")
    assert [r.tenant for r in await sweep.sweep_due()] == ["acme", "globex"]
    assert await sweep.sweep_due() == []
    off = RetentionSweep(store, RetentionConfig(acked_entries=False), ["acme"], "w1")
    assert not off.enabled
