"""What the mock backend cannot answer for, found before any task runs.

``chimera validate`` reports these for mock skills without a fixed ``mock.output``, each at
the keyword at fault: keywords the generator does not try to satisfy, patterns outside its
regex subset, and (by a trial run) schemas no value it builds satisfies.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chimera.services.mock_output import CannotGenerate, generate_output
from chimera.services.mock_regex import RegexUnsupported, sample_regex
from chimera.services.mock_schema import UNSUPPORTED, Loc


def unsupported_keywords(schema: Mapping[str, Any]) -> list[tuple[Loc, str]]:
    """Where ``schema`` uses keywords the mock cannot satisfy, with what to say there."""
    found: list[tuple[Loc, str]] = []
    stack: list[tuple[Loc, Any]] = [((), schema)]
    while stack:
        loc, sub = stack.pop()
        if not isinstance(sub, Mapping):
            continue
        for keyword in sub:
            if keyword in UNSUPPORTED:
                found.append(
                    ((*loc, keyword), f"the mock backend cannot generate values for {keyword!r}")
                )
        pattern = sub.get("pattern")
        if isinstance(pattern, str):
            try:
                sample_regex(pattern, lambda n: 0)
            except RegexUnsupported as exc:
                message = f"the mock backend cannot generate strings for this pattern: {exc}"
                found.append(((*loc, "pattern"), message))
        for keyword in ("properties", "$defs", "definitions"):
            children = sub.get(keyword)
            if isinstance(children, Mapping):
                stack.extend(((*loc, keyword, name), child) for name, child in children.items())
        for keyword in ("allOf", "prefixItems", "items"):
            children = sub.get(keyword)
            if isinstance(children, list):
                stack.extend(((*loc, keyword, i), child) for i, child in enumerate(children))
        for keyword in ("anyOf", "oneOf"):
            found += _branch_problems(sub.get(keyword), (*loc, keyword))
        for keyword in ("items", "additionalProperties", "additionalItems"):
            if isinstance(sub.get(keyword), Mapping):
                stack.append(((*loc, keyword), sub[keyword]))
    return sorted(found, key=lambda item: [str(part) for part in item[0]])


def _branch_problems(branches: Any, loc: Loc) -> list[tuple[Loc, str]]:
    """Problems in ``anyOf``/``oneOf`` branches; none when one branch is free of them.

    The generator tries branches in order, so one it can satisfy is enough.
    """
    if not isinstance(branches, list):
        return []
    per_branch = [
        [((*loc, index, *where), message) for where, message in unsupported_keywords(branch)]
        if isinstance(branch, Mapping)
        else []
        for index, branch in enumerate(branches)
    ]
    if any(not problems for problems in per_branch):
        return []
    return [problem for problems in per_branch for problem in problems]


def mock_problems(schema: Mapping[str, Any], validator: Any) -> list[tuple[Loc, str]]:
    """What stops the mock from answering for ``schema``, found before any task runs.

    Unsupported keywords first; then a trial: outputs for two seeds are generated and
    checked with ``validator`` (the skill's output validator), which catches schemas no
    value satisfies (``minimum`` above ``maximum``) and merges the generator cannot do.
    """
    found = unsupported_keywords(schema)
    if found:
        return found
    for seed in ("validate-1", "validate-2"):
        try:
            output = generate_output(schema, seed)
        except CannotGenerate as exc:
            return [(exc.loc, f"the mock backend cannot generate output: {exc.reason}")]
        for error in validator.iter_errors(output):
            where = tuple(error.absolute_schema_path)
            return [(where, f"the mock backend's output would not match: {error.message}")]
    return []
