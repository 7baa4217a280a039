"""Compiled output plans: the mock generator's walk of a schema, done once per schema.

:func:`chimera.services.mock_output.generate_output` walks the output schema on every call,
yet most of that walk does not depend on the seed: which properties an object gets, the
paths its values are picked at, a string's text before the seed, an integer's range. A plan
is that walk done once, kept as closures that only pick by the seed. :func:`fast_output`
runs the schema's plan and gives the interpreter's value exactly (``test_mock_plan``
compares the two over many schemas and seeds).

Where the walk does depend on the seed, the plan leaves the output to the interpreter: a
schema with ``oneOf`` (its branch is chosen by the values), one the interpreter reports as
impossible, or a value the plan cannot follow for this seed (a repeat under
``uniqueItems``, a pattern, format or number the value functions reject). The interpreter
then makes the whole output again from the start, so what it returns or raises is unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic_core import PydanticSerializationError, to_json

from chimera.services.mock_compile import Bail, Plan, compile_plan
from chimera.services.mock_output import checked, generate_output
from chimera.services.mock_schema import Picker

__all__ = ["fast_output", "plan_for"]

#: Plans kept; past it the cache starts again (tests and fuzzing make many schemas).
_CACHE_SIZE = 256

_cache: dict[int, tuple[Any, bytes, Plan | None]] = {}


def fast_output(schema: Mapping[str, Any], seed: str) -> Any:
    """What ``generate_output(schema, seed)`` returns or raises, by the plan where there is one.

    Raises:
        CannotGenerate: as :func:`~chimera.services.mock_output.generate_output`.
    """
    plan = plan_for(schema)
    if plan is not None:
        try:
            output = plan.make(Picker(seed))
        except Bail:
            pass
        else:
            return output if plan.small else checked(output)
    return generate_output(schema, seed)


def plan_for(schema: Mapping[str, Any]) -> Plan | None:
    """The plan of ``schema``, compiled on first use; ``None`` where only the interpreter works.

    Kept per schema object, and used again only while the schema serialises as it did, so
    a schema changed in place gets a new plan.
    """
    try:
        frozen = to_json(schema)
    except PydanticSerializationError:
        return None
    entry = _cache.get(id(schema))
    if entry is not None and entry[0] is schema and entry[1] == frozen:
        return entry[2]
    plan = compile_plan(schema)
    if len(_cache) >= _CACHE_SIZE:
        _cache.clear()
    # The entry holds the schema itself, so its id is not reused while the entry lives.
    _cache[id(schema)] = (schema, frozen, plan)
    return plan
