"""Turn ``swarm.yaml`` and its skill files into a validated :class:`Swarm`.

Every problem found is reported at once, each with the ``file:line:col`` of the YAML node
at fault, so a user fixes a broken swarm in one pass rather than one error per run.
"""

from __future__ import annotations

import glob
import types
import typing
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from jsonschema.exceptions import SchemaError
from jsonschema.validators import validator_for
from pydantic import BaseModel, ValidationError

from chimera.config.errors import ConfigError, Problem, unknown_message
from chimera.config.mcp_checks import check_mcp
from chimera.config.pipelines import check_pipelines
from chimera.config.pricing_checks import check_pricing
from chimera.config.swarm import SchemaCheck, Skill, Swarm, compile_validator, judge_levels
from chimera.config.templates import PromptTemplate, TemplateProblem
from chimera.config.yaml_source import KEY, Loc, SourceMap, load_yaml
from chimera.models.config import SkillConfig, SwarmConfig

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class KnownNames:
    """Names the installed plugins register; ``None`` means "do not check this kind"."""

    backends: Collection[str] | None = None
    policies: Collection[str] | None = None
    sinks: Collection[str] | None = None
    tool_backends: Collection[str] | None = None


@dataclass
class _Loading:
    problems: list[Problem] = field(default_factory=list)

    def add(self, problem: Problem) -> None:
        self.problems.append(problem)


def load_swarm(path: str | Path, known: KnownNames | None = None) -> Swarm:
    """Load and cross-check a swarm file and every skill file it names.

    Args:
        path: the ``swarm.yaml`` to load.
        known: registered plugin names to check references against.

    Returns:
        The validated swarm.

    Raises:
        ConfigError: listing every problem found, each with its file and position.
    """
    swarm_path = Path(path)
    data, source = load_yaml(swarm_path)
    config = validate_model(SwarmConfig, data, source)
    state = _Loading()
    skills = _load_skills(config, swarm_path, source, state, known or KnownNames())
    _check_tenants(config, skills, source, state)
    _check_judge(config, skills, source, state, known or KnownNames())
    _check_jobs(config, skills, source, state)
    state.problems.extend(check_mcp(config, skills, source, (known or KnownNames()).tool_backends))
    pipelines, problems = check_pipelines(config, skills, source)
    state.problems.extend(problems)
    state.problems.extend(check_pricing(config, skills, source))
    if state.problems:
        raise ConfigError(state.problems)
    return Swarm(config=config, path=swarm_path, skills=skills, source=source, pipelines=pipelines)


def load_skill(path: Path, known: KnownNames | None = None) -> Skill:
    """Load one skill file: shape, JSON Schemas, prompt template, backend name.

    Raises:
        ConfigError: listing every problem found in the file.
    """
    data, source = load_yaml(path)
    config = validate_model(SkillConfig, data, source)
    problems: list[Problem] = []
    validators = {}
    for name in ("input_schema", "output_schema"):
        schema = getattr(config, name)
        try:
            validator_for(schema).check_schema(schema)
        except SchemaError as exc:
            loc = (name, *exc.path)
            problems.append(
                source.problem(loc, f"{name} is not a valid JSON Schema: {exc.message}")
            )
            continue
        validators[name] = compile_validator(schema)
    if known and known.backends is not None and config.backend not in known.backends:
        problems.append(
            source.problem(("backend",), _unknown("backend", config.backend, known.backends))
        )
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
        return source.problem((*loc, KEY), _unknown("key", key, allowed))
    if kind == "missing":
        return source.problem(loc[:-1], f"missing required key {loc[-1]!r}")
    if loc and loc[-1] == KEY:
        return source.problem(loc, f"invalid name {loc[-2]!r}: {_lower(err['msg'])}")
    where = ".".join(str(p) for p in loc if not str(p).startswith(("function-", "json-")))
    message = _lower(err["msg"]).removeprefix("value error, ")
    if kind not in ("value_error", "assertion_error"):
        message += f" (got {_short(err.get('input'))})"
    return source.problem(loc, f"{where}: {message}" if where else message)


def _lower(text: str) -> str:
    return text[:1].lower() + text[1:]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _unknown(kind: str, name: str, allowed: Iterable[str]) -> str:
    return unknown_message(kind, name, allowed)


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


def _load_skills(
    config: SwarmConfig,
    swarm_path: Path,
    source: SourceMap,
    state: _Loading,
    known: KnownNames,
) -> dict[str, Skill]:
    base = swarm_path.parent
    skills: dict[str, Skill] = {}
    seen_files: set[Path] = set()
    for index, pattern in enumerate(config.skills):
        matches = sorted(Path(p) for p in glob.glob(str(base / pattern), recursive=True))
        files = [m for m in matches if m.is_file()]
        if not files:
            state.add(source.problem(("skills", index), f"no skill file matches {pattern!r}"))
            continue
        for file in files:
            resolved = file.resolve()
            if resolved in seen_files:
                continue
            seen_files.add(resolved)
            try:
                skill = load_skill(file, known)
            except ConfigError as exc:
                state.problems.extend(exc.problems)
                continue
            if skill.name in skills:
                first = skills[skill.name].path
                _, skill_source = load_yaml(file)
                state.add(
                    skill_source.problem(
                        ("name",), f"duplicate skill name {skill.name!r} (first defined in {first})"
                    )
                )
                continue
            skills[skill.name] = skill
    return skills


def _check_tenants(
    config: SwarmConfig, skills: Mapping[str, Skill], source: SourceMap, state: _Loading
) -> None:
    for tenant, tenant_config in config.tenants.items():
        for index, name in enumerate(tenant_config.skills):
            if name not in skills:
                loc: Loc = ("tenants", tenant, "skills", index)
                state.add(source.problem(loc, _unknown("skill", name, skills)))
        for name in tenant_config.judge.skills:
            if name not in tenant_config.skills:
                key_loc: Loc = ("tenants", tenant, "judge", "skills", name, KEY)
                state.add(
                    source.problem(key_loc, f"tenant {tenant!r} does not list skill {name!r}")
                )


def _check_judge(
    config: SwarmConfig,
    skills: Mapping[str, Skill],
    source: SourceMap,
    state: _Loading,
    known: KnownNames,
) -> None:
    for name in config.judge.skills:
        if name not in skills:
            state.add(
                source.problem(("judge", "skills", name, KEY), _unknown("skill", name, skills))
            )
    for index, sink in enumerate(config.audit.sinks):
        if known.sinks is not None and sink not in known.sinks:
            state.add(
                source.problem(("audit", "sinks", index), _unknown("audit sink", sink, known.sinks))
            )
    for tenant, tenant_config in config.tenants.items():
        for skill in tenant_config.skills:
            levels = judge_levels(config, tenant, skill)
            _check_levels(levels, config, tenant, skill, source, state, known)


def _level_loc(config: SwarmConfig, tenant: str, skill: str, level: object) -> Loc:
    tenant_judge = config.tenants[tenant].judge
    if level is config.judge:
        return ("judge",)
    if level is tenant_judge:
        return ("tenants", tenant, "judge")
    if level is config.judge.skills.get(skill):
        return ("judge", "skills", skill)
    return ("tenants", tenant, "judge", "skills", skill)


def _check_levels(
    levels: list[Any],
    config: SwarmConfig,
    tenant: str,
    skill: str,
    source: SourceMap,
    state: _Loading,
    known: KnownNames,
) -> None:
    approve = review = None
    approve_level = review_level = levels[0]
    for level in levels:
        if level.approve_at is not None:
            approve, approve_level = level.approve_at, level
        if level.review_at is not None:
            review, review_level = level.review_at, level
        if known.policies is not None and level.policy and level.policy not in known.policies:
            loc = (*_level_loc(config, tenant, skill, level), "policy")
            state.add(source.problem(loc, _unknown("policy", level.policy, known.policies)))
    if approve is not None and review is not None and review > approve:
        # Point at whichever level was written last: that is the one that broke the order.
        culprit = levels.index(approve_level) > levels.index(review_level)
        level, field_name = (
            (approve_level, "approve_at") if culprit else (review_level, "review_at")
        )
        loc = (*_level_loc(config, tenant, skill, level), field_name)
        scopes: dict[Loc, str] = {
            ("judge",): "",
            ("tenants", tenant, "judge"): f" for tenant {tenant!r}",
            ("judge", "skills", skill): f" for skill {skill!r}",
        }
        scope = scopes.get(loc[:-1], f" for tenant {tenant!r} and skill {skill!r}")
        state.add(
            source.problem(
                loc,
                f"review_at ({review}) is above approve_at ({approve}){scope}; "
                "expected review_at <= approve_at",
            )
        )


def _check_jobs(
    config: SwarmConfig, skills: Mapping[str, Skill], source: SourceMap, state: _Loading
) -> None:
    for index, job in enumerate(config.jobs):
        tenant_config = config.tenants.get(job.tenant)
        if tenant_config is None:
            state.add(
                source.problem(
                    ("jobs", index, "tenant"), _unknown("tenant", job.tenant, config.tenants)
                )
            )
            continue
        if job.skill is None:
            continue  # a pipeline job: check_pipelines checks it
        if job.skill not in tenant_config.skills:
            state.add(
                source.problem(
                    ("jobs", index, "skill"),
                    f"tenant {job.tenant!r} does not list skill {job.skill!r} "
                    f"(it lists: {', '.join(tenant_config.skills)})",
                )
            )
            continue
        skill = skills.get(job.skill)
        if skill is None:
            continue
        for error in sorted(
            skill.input_validator.iter_errors(job.input), key=lambda e: list(e.absolute_path)
        ):
            loc = ("jobs", index, "input", *error.absolute_path)
            state.add(
                source.problem(loc, f"input does not match skill {job.skill!r}: {error.message}")
            )
