"""The JSON Schemas committed under the spec's contracts/ folder match the models.

Skill and swarm files point their editors at these files (``# yaml-language-server:
$schema=...``), so a model change that is not regenerated would let editors accept keys the
loader rejects, or the other way round.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chimera.cli.commands_config import SCHEMAS, json_schema

ROOT = Path(__file__).resolve().parents[3]
CONTRACTS = ROOT / "specs" / "001-observable-mcp-swarm" / "contracts"
REGENERATE = (
    "uv run chimera schema --out specs/001-observable-mcp-swarm/contracts"
    " (from the repository root)"
)


def test_every_schema_kind_is_checked() -> None:
    assert sorted(SCHEMAS) == ["skill", "swarm"]


@pytest.mark.parametrize("kind", sorted(SCHEMAS))
def test_committed_schema_matches_the_models(kind: str) -> None:
    path = CONTRACTS / f"{kind}.schema.json"
    assert path.is_file(), f"{path} is missing; regenerate it with: {REGENERATE}"
    expected = json.dumps(json_schema(kind), indent=2) + "\n"
    assert path.read_text(encoding="utf-8") == expected, (
        f"{path.relative_to(ROOT)} is out of date with chimera.models.config; "
        f"regenerate it with: {REGENERATE}"
    )
