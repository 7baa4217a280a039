"""The loaded swarm: validated configuration plus the compiled pieces services need."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator
from jsonschema.protocols import Validator
from referencing.exceptions import Unresolvable

from chimera.config.fingerprint import SWARM_FINGERPRINT_LENGTH, fingerprint
from chimera.config.templates import PromptTemplate
from chimera.config.yaml_source import SourceMap
from chimera.models.config import JudgeSettings, ResolvedJudge, SkillConfig, SwarmConfig
from chimera.models.thresholds import Thresholds
from chimera.models.types import MAX_PAYLOAD_DEPTH

if TYPE_CHECKING:
    from chimera.config.compiled_pipeline import CompiledPipeline

#: Keywords whose meaning is the same in draft 7 and 2020-12; a schema made only of these
#: may be checked by fastjsonschema (draft 7), which compiles it to plain Python.
_PORTABLE_KEYWORDS = frozenset(
    {
        "type", "properties", "required", "additionalProperties", "enum", "const",
        "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
        "minLength", "maxLength", "pattern", "items", "minItems", "maxItems",
        "uniqueItems", "minProperties", "maxProperties", "anyOf", "oneOf", "allOf", "not",
        "title", "description", "default", "examples", "$comment",
    }
)  # fmt: skip


@dataclass(frozen=True)
class SchemaCheck:
    """A compiled fast path for "is this valid?"; messages still come from jsonschema.

    Validation runs three times per task (input at submit, input and output in the Worker),
    so it dominates the Worker's CPU. fastjsonschema is several times faster than
    jsonschema but speaks draft 7, so it is used only for schemas whose every keyword means
    the same in both drafts. A failure is re-checked by jsonschema, so users always see
    jsonschema's messages; a pass is final, which is sound because for these keywords both
    validators implement the same rules.
    """

    check: Any

    @classmethod
    def compile(cls, schema: Mapping[str, Any]) -> SchemaCheck | None:
        """Compile ``schema``, or return ``None`` when it needs the full validator."""
        if not _portable(schema):
            return None
        import fastjsonschema

        try:
            return cls(fastjsonschema.compile(dict(schema), use_formats=False))
        except Exception:  # any compile trouble: use jsonschema alone
            return None

    def is_valid(self, value: Any) -> bool:
        """True when ``value`` is valid; False means "ask jsonschema"."""
        try:
            self.check(value)
        except Exception:  # fastjsonschema raises its own error types
            return False
        return True


def _portable(schema: Any) -> bool:
    if isinstance(schema, bool):
        return True
    if not isinstance(schema, Mapping) or set(schema) - _PORTABLE_KEYWORDS:
        return False
    properties = schema.get("properties", {})
    if not isinstance(properties, Mapping) or not all(map(_portable, properties.values())):
        return False
    for key in ("anyOf", "oneOf", "allOf"):
        if not all(map(_portable, schema.get(key, []))):
            return False
    return all(
        _portable(schema[key]) for key in ("additionalProperties", "items", "not") if key in schema
    )


@dataclass(frozen=True)
class Skill:
    """A skill ready to run: its config, compiled template and schema validators.

    Attributes:
        source: positions of the skill file's values, for later ``file:line:col`` messages
            (a plugin checking ``options``); ``None`` for a skill not loaded from a file.
        fingerprint: 16 hex digits digesting the validated config as written (see
            :mod:`chimera.config.fingerprint`), computed once when the skill is built.
            Tasks carry the fingerprint of the definition they were planned with, so a
            Worker running another definition can tell.
    """

    config: SkillConfig
    path: Path
    template: PromptTemplate
    input_validator: Validator
    output_validator: Validator
    input_check: SchemaCheck | None = None
    output_check: SchemaCheck | None = None
    source: SourceMap | None = field(default=None, compare=False, repr=False)
    fingerprint: str = field(init=False, default="")

    def __post_init__(self) -> None:
        object.__setattr__(self, "fingerprint", fingerprint(self.config, self.source))

    @property
    def name(self) -> str:
        """The skill's unique name."""
        return self.config.name

    def input_errors(self, value: Any) -> list[str]:
        """Return a message per way ``value`` breaks the input schema (empty when valid)."""
        if self.input_check is not None and self.input_check.is_valid(value):
            return []
        return _messages(self.input_validator, value)

    def output_errors(self, value: Any) -> list[str]:
        """Return a message per way ``value`` breaks the output schema (empty when valid)."""
        if self.output_check is not None and self.output_check.is_valid(value):
            return []
        return _messages(self.output_validator, value)


def config_fingerprint(config: SkillConfig) -> str:
    """A short digest of ``config``'s canonical JSON (sorted keys): equal for equal values.

    Two files that mean the same (key order, comments, a default written out or not) give
    the same fingerprint; any changed value gives another. For a skill loaded from a file,
    :attr:`Skill.fingerprint` counts each ``${VAR}`` as written instead of its value.
    """
    return fingerprint(config, None)


def _messages(validator: Validator, value: Any) -> list[str]:
    return [f"{_json_path(path)}: {message}" for path, message in schema_errors(validator, value)]


def schema_errors(validator: Validator, value: Any) -> list[tuple[tuple[str | int, ...], str]]:
    """Each way ``value`` breaks the validator's schema: ``(path in the value, message)``.

    Never raises: a value nested deeper than payloads may be is refused before it reaches
    jsonschema (whose recursion follows the value), and a value that still makes the
    validator fail (a regex too large for the ``regex`` format) is refused with the reason.
    """
    if _depth_over(value, MAX_PAYLOAD_DEPTH):
        return [((), f"nests deeper than {MAX_PAYLOAD_DEPTH} levels")]
    try:
        errors = sorted(validator.iter_errors(value), key=_error_order)
    except (RecursionError, Unresolvable, re.error, OverflowError, ValueError) as exc:
        return [((), f"cannot be checked against the schema: {type(exc).__name__}: {exc}"[:300])]
    return [(tuple(error.absolute_path), error.message) for error in errors]


def _error_order(error: Any) -> list[tuple[bool, Any]]:
    # Indexes before names, each compared with its own kind (int < str would raise).
    return [(isinstance(part, str), part) for part in error.absolute_path]


def _depth_over(value: Any, limit: int) -> bool:
    """Whether ``value`` nests more than ``limit`` lists or objects deep (no recursion)."""
    stack = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if level >= limit:
            return True
        stack.extend((child, level + 1) for child in children)
    return False


def _json_path(path: Any) -> str:
    parts = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
    return "$" + parts


def compile_validator(schema: Mapping[str, Any]) -> Validator:
    """Build a validator for ``schema`` (its ``$schema`` decides the draft; 2020-12 default)."""
    from jsonschema.validators import validator_for

    cls = validator_for(schema, default=Draft202012Validator)
    validator: Validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    return validator


@dataclass(frozen=True)
class Swarm:
    """A validated swarm: what ``chimera validate`` checks and every command runs.

    Attributes:
        source: positions of ``swarm.yaml``'s values (``judge.options`` for a plugin's
            messages); ``None`` for a swarm not loaded from a file.
        fingerprint: 12 hex digits over the swarm's validated config and every skill's
            fingerprint (the one heartbeats report); computed once, when the swarm is built.
    """

    config: SwarmConfig
    path: Path
    skills: Mapping[str, Skill]
    pipelines: Mapping[str, CompiledPipeline] = field(default_factory=dict)
    _judge_cache: dict[tuple[str, str], ResolvedJudge] = field(default_factory=dict)
    source: SourceMap | None = field(default=None, compare=False, repr=False)
    fingerprint: str = field(init=False, default="")

    def __post_init__(self) -> None:
        skills = {name: skill.fingerprint for name, skill in self.skills.items()}
        digest = fingerprint(self.config, self.source, skills, length=SWARM_FINGERPRINT_LENGTH)
        object.__setattr__(self, "fingerprint", digest)

    @property
    def tenants(self) -> list[str]:
        """Tenant names in file order."""
        return list(self.config.tenants)

    def skill(self, name: str) -> Skill:
        """Return the skill called ``name``; ``KeyError`` if there is none."""
        return self.skills[name]

    def tenant_may_run(self, tenant: str, skill: str) -> bool:
        """Tell whether ``tenant`` exists and lists ``skill``."""
        config = self.config.tenants.get(tenant)
        return config is not None and skill in config.skills

    def tenant_may_run_pipeline(self, tenant: str, pipeline: str) -> bool:
        """Tell whether ``tenant`` exists and lists the skill of every step of ``pipeline``.

        Tenants do not list pipelines: a pipeline only chains skills, so a tenant allowed
        every one of them could chain them by hand anyway.
        """
        config = self.config.tenants.get(tenant)
        compiled = self.pipelines.get(pipeline)
        return (
            config is not None
            and compiled is not None
            and not compiled.skills_missing(config.skills)
        )

    def judge_for(self, tenant: str, skill: str) -> ResolvedJudge:
        """Merge Judge settings for one tenant and skill; the most specific level wins.

        Order, least to most specific: swarm, tenant, swarm's per-skill, tenant's per-skill.
        """
        key = (tenant, skill)
        cached = self._judge_cache.get(key)
        if cached is not None:
            return cached
        levels = judge_levels(self.config, tenant, skill)
        merged: dict[str, Any] = {}
        for level in levels:
            for name in ("policy", "approve_at", "review_at", "on_deny", "options"):
                value = getattr(level, name)
                if value is not None:
                    merged[name] = value
        resolved = ResolvedJudge(
            policy=merged["policy"],
            thresholds=Thresholds(approve_at=merged["approve_at"], review_at=merged["review_at"]),
            on_deny=merged["on_deny"],
            options=merged.get("options", {}),
        )
        self._judge_cache[key] = resolved
        return resolved


def judge_levels(config: SwarmConfig, tenant: str, skill: str) -> list[JudgeSettings]:
    """The Judge settings that apply to ``tenant``/``skill``, least specific first."""
    levels: list[JudgeSettings] = [config.judge]
    tenant_config = config.tenants.get(tenant)
    if tenant_config is not None:
        levels.append(tenant_config.judge)
    if skill in config.judge.skills:
        levels.append(config.judge.skills[skill])
    if tenant_config is not None and skill in tenant_config.judge.skills:
        levels.append(tenant_config.judge.skills[skill])
    return levels
