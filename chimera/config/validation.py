"""Validating one file's data against its pydantic model, with errors at YAML positions."""

from __future__ import annotations

import types
import typing
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from chimera.config.errors import ConfigError, Problem, unknown_message
from chimera.config.yaml_source import KEY, Loc, SourceMap

M = TypeVar("M", bound=BaseModel)


def validate_model(model: type[M], data: Any, source: SourceMap) -> M:
    """Validate ``data`` as ``model``, mapping pydantic's errors back to YAML positions.

    Raises:
        ConfigError: one problem per validation error.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([_problem(model, err, source) for err in exc.errors()]) from None


def _problem(model: type[BaseModel], err: Any, source: SourceMap) -> Problem:
    loc: Loc = tuple(err["loc"])
    kind = err["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        allowed = _allowed_keys(model, loc[:-1])
        return source.problem((*loc, KEY), unknown_message("key", key, allowed))
    if kind == "missing":
        return source.problem(loc[:-1], f"missing required key {loc[-1]!r}")
    if loc and loc[-1] == KEY:
        return source.problem(loc, f"invalid name {loc[-2]!r}: {_lower(err['msg'])}")
    where = ".".join(str(p) for p in loc if not str(p).startswith(("function-", "json-")))
    message = _lower(err["msg"]).removeprefix("value error, ")
    if kind not in ("value_error", "assertion_error"):
        # As written: a value from ${VAR} is shown as the reference, never as the value.
        message += f" (got {source.shown(_data_loc(loc), err.get('input'))})"
    return source.problem(loc, f"{where}: {message}" if where else message)


def _data_loc(loc: Loc) -> Loc:
    """``loc`` without the parts pydantic adds for unions and validators."""
    return tuple(p for p in loc if not str(p).startswith(("function-", "json-", "list[", "dict[")))


def _lower(text: str) -> str:
    return text[:1].lower() + text[1:]


def _allowed_keys(model: type[BaseModel], loc: Loc) -> list[str]:
    """Field names of the model found by walking ``loc`` down from ``model``."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(str(part))
            if info is None:
                return []
            current = info.annotation
        else:
            args = typing.get_args(current)
            current = args[-1] if args else Any
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = args[0]
        else:
            return annotation
