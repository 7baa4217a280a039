"""trusted(): models built from values validated already, equal to validated ones."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import BaseModel, ConfigDict, Field

from chimera.models.audit import AuditEvent, AuditEventType
from chimera.models.result import Result, ResultStatus, Usage
from chimera.models.trusted import trusted

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def result_values(**changes: object) -> dict[str, object]:
    values: dict[str, object] = {
        "task_id": "01J0000000000000000000000A",
        "tenant": "acme",
        "session": "s1",
        "skill": "summarise",
        "attempt": 1,
        "status": ResultStatus.SUCCEEDED,
        "output": {"summary": "ok"},
        "confidence": 0.9,
        "usage": Usage(prompt_tokens=3, completion_tokens=4),
        "worker": "w1",
        "trace_id": "0" * 32,
        "started_at": NOW,
        "finished_at": NOW,
    }
    values.update(changes)
    return values


def test_a_trusted_result_equals_and_serialises_like_a_validated_one() -> None:
    validated = Result(**result_values())  # type: ignore[arg-type]
    built = trusted(Result, **result_values())
    assert built == validated
    assert built.model_dump_json() == validated.model_dump_json()
    assert built.model_fields_set == validated.model_fields_set
    assert Result.model_validate_json(built.model_dump_json()) == validated


def test_a_nested_model_given_as_a_dict_is_built_as_that_model() -> None:
    built = trusted(Result, **result_values(usage={"prompt_tokens": 1, "completion_tokens": 2}))
    assert isinstance(built.usage, Usage)
    assert built.usage.completion_tokens == 2
    assert (
        built.model_dump_json()
        == Result(
            **result_values(usage=Usage(prompt_tokens=1, completion_tokens=2))
        ).model_dump_json()
    )  # type: ignore[arg-type]


def test_defaults_and_default_factories_fill_what_is_left_out() -> None:
    values = result_values()
    del values["usage"]
    built = trusted(Result, **values)
    assert built.usage == Usage()
    assert built.error is None
    assert built.prompt is None
    event = trusted(AuditEvent, type=AuditEventType.STARTED, tenant="acme")
    again = trusted(AuditEvent, type=AuditEventType.STARTED, tenant="acme")
    assert event.id != again.id  # each made by the factory
    assert event.data == {}
    assert event.data is not again.data
    assert event.actor == "chimera"


class WithMutableDefault(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[int] = Field(default=[])


def test_a_mutable_default_is_not_shared_between_instances() -> None:
    first = trusted(WithMutableDefault)
    first.items.append(1)
    assert trusted(WithMutableDefault).items == []


def test_an_unknown_field_or_a_missing_required_one_is_a_bug_that_raises() -> None:
    with pytest.raises(TypeError, match="no field colour"):
        trusted(Result, colour="red", **result_values())
    values = result_values()
    del values["tenant"]
    with pytest.raises(TypeError, match="'tenant'"):
        trusted(Result, **values)


class WithAlias(BaseModel):
    value: int = Field(alias="v")


def test_a_model_it_cannot_build_faithfully_is_refused() -> None:
    with pytest.raises(TypeError, match="alias"):
        trusted(WithAlias, value=1)
