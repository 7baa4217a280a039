"""Contract of the hash-chained audit sink and of reading its chain back."""

from __future__ import annotations

import asyncio
from typing import cast

from chimera.models.audit import GENESIS_HASH, AuditEvent, AuditEventType, AuditRecord
from tests.chimera.contracts.backends import Backend


def event(tenant: str, n: int, actor: str = "chimera") -> AuditEvent:
    return AuditEvent(
        type=AuditEventType.SUBMITTED, tenant=tenant, task_id=f"t{n}", actor=actor, data={"n": n}
    )


async def test_audit_chain_per_tenant_verifies(backend: Backend) -> None:
    sink = backend.new_audit_sink()
    await sink.write([event("acme", 1), event("globex", 1), event("acme", 2)])
    await sink.write([event("acme", 3)])
    acme = await backend.chain("acme")
    assert acme.ok
    assert acme.broken_at is None
    assert acme.problem is None
    assert [r.seq for r in acme.records] == [1, 2, 3]
    assert [r.event.data["n"] for r in acme.records] == [1, 2, 3]
    assert acme.records[0].prev == GENESIS_HASH
    assert [r.prev for r in acme.records[1:]] == [r.hash for r in acme.records[:-1]]
    globex = await backend.chain("globex")
    assert globex.ok
    assert [r.event.tenant for r in globex.records] == ["globex"]
    head = await backend.probe.hash("acme", "audit_head")
    assert head == {"seq": "3", "hash": acme.records[-1].hash}


async def test_audit_chain_of_an_empty_tenant_is_ok(backend: Backend) -> None:
    check = await backend.chain("acme")
    assert check.ok
    assert check.records == []


async def test_concurrent_writers_form_one_valid_chain(backend: Backend) -> None:
    sinks = [backend.new_audit_sink(), backend.new_audit_sink()]
    writes = [
        sinks[i % 2].write(
            [event("acme", 10 * i + j, actor=f"sink{i % 2}") for j in range(1 + i % 3)]
        )
        for i in range(40)
    ]
    await asyncio.gather(*writes)
    check = await backend.chain("acme")
    expected = sorted(10 * i + j for i in range(40) for j in range(1 + i % 3))
    assert check.ok, check.problem
    assert [r.seq for r in check.records] == list(range(1, len(expected) + 1))
    assert sorted(cast(int, r.event.data["n"]) for r in check.records) == expected
    # Each write's events stay together and in order.
    numbers = [cast(int, r.event.data["n"]) for r in check.records]
    for i in range(40):
        batch = [10 * i + j for j in range(1 + i % 3)]
        start = numbers.index(batch[0])
        assert numbers[start : start + len(batch)] == batch


async def rewrite_stream(backend: Backend, change: dict[int, dict[str, str] | None]) -> None:
    """Rewrite the audit stream in order, replacing (or dropping, with None) entries by index."""
    entries = await backend.probe.entries("acme", "audit")
    kept = []
    for index, (_, fields) in enumerate(entries):
        if index in change:
            replacement = change[index]
            if replacement is None:
                continue
            fields = replacement
        kept.append(fields)
    await backend.probe.replace_entries("acme", "audit", kept)


async def write_chain(backend: Backend, n: int) -> list[AuditRecord]:
    await backend.new_audit_sink().write([event("acme", i) for i in range(1, n + 1)])
    check = await backend.chain("acme")
    assert check.ok
    return check.records


async def test_altered_record_is_reported_at_its_seq(backend: Backend) -> None:
    records = await write_chain(backend, 5)
    target = records[2]
    forged = target.event.model_copy(update={"actor": "mallory"})
    fields = {
        "seq": str(target.seq),
        "prev": target.prev,
        "hash": target.hash,
        "event": forged.model_dump_json(),
    }
    await rewrite_stream(backend, {2: fields})
    check = await backend.chain("acme")
    assert not check.ok
    assert check.broken_at == 3
    assert check.problem is not None
    assert "(seq 3): hash does not match" in check.problem
    assert len(check.records) == 5
    assert check.records[2].event.actor == "mallory"
    unverified = await backend.chain("acme", verify=False)
    assert unverified.ok
    assert len(unverified.records) == 5


async def test_removed_record_is_reported_at_the_missing_seq(backend: Backend) -> None:
    await write_chain(backend, 5)
    await rewrite_stream(backend, {1: None})
    check = await backend.chain("acme")
    assert check.broken_at == 2
    assert check.problem is not None
    assert "expected seq 2, found 3" in check.problem
    assert [r.seq for r in check.records] == [1, 3, 4, 5]


async def test_a_rehashed_forgery_is_blamed_on_the_forged_record(backend: Backend) -> None:
    records = await write_chain(backend, 4)
    target = records[1]
    forged = target.event.model_copy(update={"data": {"n": 99}})
    body = forged.model_dump_json()
    fields = {
        "seq": str(target.seq),
        "prev": target.prev,
        "hash": AuditRecord.digest(target.prev, target.seq, body),
        "event": body,
    }
    await rewrite_stream(backend, {1: fields})
    check = await backend.chain("acme")
    # The forged record's own hash fits its new content; its witness does not.
    assert check.broken_at == 2
    assert check.problem is not None
    assert "(seq 2)" in check.problem
    assert "re-hashed" in check.problem


async def test_records_cut_from_the_end_are_found(backend: Backend) -> None:
    await write_chain(backend, 5)
    await rewrite_stream(backend, {3: None, 4: None})
    check = await backend.chain("acme")
    assert check.broken_at == 4
    assert check.problem is not None
    assert "missing from the end" in check.problem


async def test_an_event_written_twice_is_stored_once(backend: Backend) -> None:
    first, second = event("acme", 1), event("acme", 2)
    sink = backend.new_audit_sink()
    await sink.write([first])
    # A second process's sink, and the same event again (a retried write).
    await backend.new_audit_sink().write([first, second, first])
    check = await backend.chain("acme")
    assert check.ok
    assert [r.event.id for r in check.records] == [first.id, second.id]
    assert [r.seq for r in check.records] == [1, 2]


async def test_malformed_record_is_reported(backend: Backend) -> None:
    records = await write_chain(backend, 3)
    broken = {"seq": str(records[1].seq), "prev": records[1].prev, "event": "{}"}
    await rewrite_stream(backend, {1: broken})
    check = await backend.chain("acme")
    assert check.broken_at == 2
    assert check.problem is not None
    assert "is malformed" in check.problem
    assert [r.seq for r in check.records] == [1, 3]
