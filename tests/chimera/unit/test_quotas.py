"""Quota rules on the fakes: fair shares, the budgets the Planner checks, the config checks."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from chimera.config.errors import ConfigError
from chimera.config.loader import load_swarm
from chimera.models.config import QuotaConfig
from chimera.ports.queue import FairRead, TenantLimits
from chimera.services.planner import Planner, QuotaExceeded, Submission
from chimera.services.quotas import TokenBudgets, read_limits
from chimera.services.worker.fair_read import FairReader
from chimera.testing import FakePorts, RecordingAuditLogger
from tests.chimera.helpers import write_swarm


class ScriptedQueue:
    """Answers ``read_within`` from a table of what each tenant has waiting."""

    def __init__(self, waiting: dict[str, int]) -> None:
        self.waiting = dict(waiting)
        self.asked: list[dict[str, int]] = []

    async def read_within(self, consumer, shares, limits, block_ms):  # type: ignore[no-untyped-def]
        self.asked.append(dict(shares))
        read = FairRead()
        for tenant, share in shares.items():
            got = min(share, self.waiting.get(tenant, 0))
            self.waiting[tenant] = self.waiting.get(tenant, 0) - got
            read.got[tenant] = got
        return read if not any(read.got.values()) else _with_deliveries(read)


def _with_deliveries(read: FairRead) -> FairRead:
    # Stand-in deliveries: only their number matters to the reader.
    read.deliveries = [object()] * sum(read.got.values())  # type: ignore[list-item]
    return read


def test_shares_split_the_free_slots_and_the_remainder_goes_round() -> None:
    reader = FairReader(ScriptedQueue({}), "w", ["a", "b", "c"], {})  # type: ignore[arg-type]
    assert reader.shares(10, ["a", "b", "c"]) == {"a": 4, "b": 3, "c": 3}
    assert reader.shares(10, ["a", "b", "c"]) == {"b": 4, "c": 3, "a": 3}
    assert sum(reader.shares(2, ["a", "b", "c"]).values()) == 2
    assert reader.shares(0, ["a"]) == {}
    assert reader.shares(5, []) == {}


async def test_what_a_quiet_tenant_leaves_goes_to_the_busy_one() -> None:
    queue = ScriptedQueue({"noisy": 1000, "quiet": 2})
    reader = FairReader(queue, "w", ["noisy", "quiet"], {})  # type: ignore[arg-type]
    read = await reader.read(20, 0)
    assert read.got == {"noisy": 18, "quiet": 2}
    assert queue.asked == [{"noisy": 10, "quiet": 10}, {"noisy": 8}]


async def test_a_held_back_tenant_is_not_offered_more() -> None:
    class Held(ScriptedQueue):
        async def read_within(self, consumer, shares, limits, block_ms):  # type: ignore[no-untyped-def]
            read = await super().read_within(consumer, shares, limits, block_ms)
            read.limited = {"noisy": "rate"}
            return read

    queue = Held({"noisy": 1000, "quiet": 0})
    reader = FairReader(queue, "w", ["noisy", "quiet"], {})  # type: ignore[arg-type]
    await reader.read(20, 0)
    assert len(queue.asked) == 1


def test_read_limits_come_from_the_tenants_quotas(tmp_path: Path) -> None:
    swarm = write_swarm(
        tmp_path,
        tenants={
            "acme": {"skills": ["echo"], "quotas": {"rate_per_s": 2.5, "max_in_flight": 3}},
            "globex": {"skills": ["echo"], "quotas": {"tokens_per_day": 100}},
        },
    )
    assert read_limits(swarm) == {"acme": TenantLimits(max_in_flight=3, rate_per_s=2.5, burst=3)}
    assert QuotaConfig(rate_per_s=0.2).bucket_size == 1
    assert QuotaConfig(rate_per_s=10, burst=50).bucket_size == 50


def test_quota_mistakes_are_reported_at_their_line(tmp_path: Path) -> None:
    write_swarm(tmp_path)
    path = tmp_path / "swarm.yaml"
    data = yaml.safe_load(path.read_text())
    data["tenants"]["acme"]["quotas"] = {"burst": 5, "max_in_flight": 0, "rate": 3}
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as caught:
        load_swarm(path)
    messages = [p.message for p in caught.value.problems]
    assert any("greater than or equal to 1" in m for m in messages)  # max_in_flight: 0
    assert any("unknown key 'rate'" in m for m in messages)
    lines = path.read_text().splitlines()
    quota_line = next(i for i, line in enumerate(lines, 1) if "max_in_flight" in line)
    assert any(p.line == quota_line for p in caught.value.problems)
    data["tenants"]["acme"]["quotas"] = {"burst": 5}
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="burst needs rate_per_s"):
        load_swarm(path)


async def test_the_planner_refuses_a_tenant_past_its_budget_and_audits_it(tmp_path: Path) -> None:
    swarm = write_swarm(
        tmp_path,
        tenants={
            "acme": {"skills": ["echo"], "quotas": {"tokens_per_day": 50}},
            "globex": {"skills": ["echo"], "quotas": {"tokens_per_session": 5}},
        },
    )
    ports = FakePorts()
    audit = RecordingAuditLogger()
    now = datetime(2026, 3, 4, 12, tzinfo=UTC)
    budgets = TokenBudgets(swarm, ports.usage, ports.sessions, clock=lambda: now)
    planner = Planner(swarm, ports.queue, ports.sessions, audit, budgets=budgets)
    ok = await planner.submit([Submission("acme", "echo", {"text": "x"})])
    assert len(ok) == 1
    ports.tenant("acme").usage["2026-03-04"] = "50"
    ports.tenant("acme").usage["2026-03-03"] = "9999"  # yesterday's does not count
    with pytest.raises(QuotaExceeded, match=r"\(50 of 50 tokens\); new tasks are refused"):
        await planner.submit(
            [Submission("acme", "echo", {"text": "y"}), Submission("globex", "echo", {"text": "z"})]
        )
    assert len(ports.tenant("globex").ledger) == 0  # all or nothing
    [refused] = [e for e in audit.events if e.type.value == "quota_refused"]
    assert (refused.tenant, refused.data["budget"]) == ("acme", "tokens_per_day")
    await ports.queue.enqueue([])
    ports.tenant("globex").count("s9", "tokens", 5)
    with pytest.raises(QuotaExceeded, match="session 's9' of tenant 'globex'"):
        await planner.submit([Submission("globex", "echo", {"text": "z"}, session="s9")])
    assert await planner.submit([Submission("globex", "echo", {"text": "z"}, session="s10")])
