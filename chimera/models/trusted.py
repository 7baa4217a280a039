"""Building models from data this process validated already, without validating it again.

Each hop validates what it reads from Redis once (``model_validate_json``). What a hop then
builds from those validated values and its own constants (a Worker's Result, the Judge's
audit events) is checked by the code that builds it and by the tests, not by pydantic on
every task: a full validation of a Result re-serialises its output to measure it, which
costs more than the rest of building it.

:func:`trusted` is pydantic's ``model_construct`` made cheaper for chimera's models (no
aliases, no private attributes, no ``extra="allow"``), and stricter about what it is given:
an unknown or missing field is a bug in the caller and raises at once, where
``model_construct`` would drop the one and leave the other out of the model. A field whose
type is a model and whose value is given as a dict is built as that model, so a nested
value serialises and compares like a validated one.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

M = TypeVar("M", bound=BaseModel)

_object_setattr = object.__setattr__


@dataclass(frozen=True)
class _Plan:
    """How to build one model class: its fields in order, their defaults, nested models."""

    names: tuple[str, ...]
    fields: frozenset[str]
    #: Field name → its default (a value) or how to make one (a factory).
    defaults: dict[str, tuple[bool, Any]]
    nested: dict[str, type[BaseModel]]


@functools.cache
def _plan(model: type[BaseModel]) -> _Plan:
    config = model.model_config
    if config.get("extra") == "allow" or model.__private_attributes__:
        raise TypeError(f"trusted() cannot build {model.__name__}: extras or private attributes")
    if model.__pydantic_post_init__ is not None or model.__pydantic_root_model__:
        raise TypeError(f"trusted() cannot build {model.__name__}: it has a post-init step")
    defaults: dict[str, tuple[bool, Any]] = {}
    nested: dict[str, type[BaseModel]] = {}
    for name, field in model.model_fields.items():
        if field.alias not in (None, name) or field.validation_alias is not None:
            raise TypeError(f"trusted() cannot build {model.__name__}: {name} has an alias")
        if field.default_factory is not None:
            if field.default_factory_takes_validated_data:
                raise TypeError(f"trusted() cannot build {model.__name__}.{name}'s default")
            defaults[name] = (True, field.default_factory)
        elif isinstance(field.default, list | dict | set):
            # A mutable default is copied for each instance, as validation does.
            defaults[name] = (True, functools.partial(copy.deepcopy, field.default))
        elif field.default is not PydanticUndefined:
            defaults[name] = (False, field.default)
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            nested[name] = annotation
    names = tuple(model.model_fields)
    return _Plan(names, frozenset(names), defaults, nested)


def trusted(model: type[M], /, **values: Any) -> M:
    """An instance of ``model`` holding ``values``, which are not validated.

    Only for values that are valid already: taken from models validated in this process,
    or built by chimera's own code. Fields left out take their defaults.

    Raises:
        TypeError: a value names no field of ``model``, or a required field has none.
    """
    plan = _plan(model)
    given = set(values)
    if given != plan.fields:
        unknown = given - plan.fields
        if unknown:
            raise TypeError(f"{model.__name__} has no field {', '.join(sorted(unknown))}")
        for name in plan.fields - given:
            if name not in plan.defaults:
                raise TypeError(f"{model.__name__}: no value for required field {name!r}")
            is_factory, made = plan.defaults[name]
            values[name] = made() if is_factory else made
    for name, sub in plan.nested.items():
        value = values[name]
        if isinstance(value, dict):
            values[name] = trusted(sub, **value)
    # In field order, as validation stores them: it is the order they serialise in.
    data = {name: values[name] for name in plan.names}
    instance = model.__new__(model)
    _object_setattr(instance, "__dict__", data)
    _object_setattr(instance, "__pydantic_fields_set__", given)
    _object_setattr(instance, "__pydantic_extra__", None)
    _object_setattr(instance, "__pydantic_private__", None)
    return instance
