"""Loading one skill file: shape, JSON Schemas, prompt template, backend name, mock output."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for

from chimera.config.errors import ConfigError, Problem, unknown_message
from chimera.config.schema_checks import (
    check_schema_problems,
    dialect_problem,
    pattern_problems,
    reference_problems,
)
from chimera.config.swarm import SchemaCheck, Skill, compile_validator
from chimera.config.templates import PromptTemplate, TemplateProblem
from chimera.config.validation import validate_model
from chimera.config.yaml_source import KEY, SourceMap, load_yaml
from chimera.models.config import SkillConfig


@dataclass(frozen=True)
class KnownNames:
    """Names the installed plugins register; ``None`` means "do not check this kind"."""

    backends: Collection[str] | None = None
    policies: Collection[str] | None = None
    sinks: Collection[str] | None = None
    tool_backends: Collection[str] | None = None


def load_skill(path: Path, known: KnownNames | None = None) -> Skill:
    """Load one skill file: shape, JSON Schemas, prompt template, backend name.

    Raises:
        ConfigError: listing every problem found in the file.
    """
    data, source = load_yaml(path)
    config = validate_model(SkillConfig, data, source)
    problems: list[Problem] = []
    validators: dict[str, Validator] = {}
    for name in ("input_schema", "output_schema"):
        schema = getattr(config, name)
        found = schema_problems(schema)
        problems += [source.problem((name, *loc), _about(name, message)) for loc, message in found]
        if not found:
            validators[name] = compile_validator(schema)
    if known and known.backends is not None and config.backend not in known.backends:
        message = unknown_message("backend", config.backend, known.backends)
        problems.append(source.problem(("backend",), message))
    if config.backend == "mock" and config.mock.output is None and "output_schema" in validators:
        problems += _mock_problems(config.output_schema, validators["output_schema"], source)
    template = None
    properties = config.input_schema.get("properties")
    allowed = frozenset(properties) if isinstance(properties, dict) else frozenset()
    try:
        template = PromptTemplate.compile(config.prompt, allowed)
    except TemplateProblem as exc:
        pos = source.position(("prompt",))
        offset = exc.lineno if pos.block else exc.lineno - 1
        problems.append(source.problem(("prompt",), exc.message, line_offset=offset))
    if problems or template is None:
        raise ConfigError(problems)
    return Skill(
        config=config,
        path=path,
        template=template,
        input_validator=validators["input_schema"],
        output_validator=validators["output_schema"],
        input_check=SchemaCheck.compile(config.input_schema),
        output_check=SchemaCheck.compile(config.output_schema),
        source=source,
    )


def schema_problems(schema: Mapping[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    """Everything that would make ``schema`` fail later, each at the keyword at fault.

    In order, each step only when the one before found nothing: the ``$schema`` dialect,
    regexes Python cannot compile, the metaschema check, then ``$ref`` (remote,
    unresolvable or endlessly recursive).
    """
    dialect = dialect_problem(schema)
    if dialect is not None:
        return [dialect]
    found = pattern_problems(schema)
    if found:
        return found
    cls = validator_for(schema, default=Draft202012Validator)
    return check_schema_problems(schema, cls) or reference_problems(schema)


def _mock_problems(
    schema: Mapping[str, Any], validator: Validator, source: SourceMap
) -> list[Problem]:
    from chimera.services.mock_checks import mock_problems

    hint = "; set mock.output or use another backend"
    return [
        _at(source, ("output_schema", *loc), f"{message[:240]}{hint}")
        for loc, message in mock_problems(schema, validator)
    ]


def _about(name: str, message: str) -> str:
    return f"{name} {message}" if message.startswith("is ") else f"{name}: {message}"


def _at(source: SourceMap, loc: tuple[Any, ...], message: str) -> Problem:
    """A problem at a keyword: at its key when the loc names one, as users look for that."""
    if loc and loc[-1] != KEY and (*loc, KEY) in source.positions:
        return source.problem((*loc, KEY), message)
    return source.problem(loc, message)
