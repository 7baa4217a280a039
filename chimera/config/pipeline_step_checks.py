"""Checks of one pipeline step's templates against the schemas they read and feed.

For every template in a step (``when``, ``for_each`` and each string of ``input``) this
checks the variables it uses, follows each reference (``input.x``, ``steps.a.output.b``,
``item.c``) into the schema it points at, and compares what the step's input will hold with
its skill's ``input_schema``: required properties, properties the skill does not take, and
types wherever they are known statically.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from jinja2 import meta, nodes

from chimera.config.errors import unknown_message
from chimera.config.pipeline_refs import Reference, references, value_schema
from chimera.config.pipeline_schemas import (
    Lookup,
    Schema,
    compatible,
    deref,
    describe,
    field_schema,
    json_type_of,
    json_types,
)
from chimera.config.pipeline_templates import (
    CompiledValue,
    Expression,
    TextTemplate,
    ValuePath,
    environment_globals,
    format_path,
)
from chimera.config.swarm import Skill
from chimera.config.yaml_source import Loc
from chimera.models.pipeline import PipelineStep, StepState

_STATUS_SCHEMA: Schema = {"type": "string", "enum": [s.value for s in StepState]}


@dataclass(frozen=True)
class Finding:
    """A problem in a step: ``loc`` inside the step, ``lineno`` inside the template there."""

    loc: Loc
    message: str
    lineno: int = 1


@dataclass
class StepScope:
    """What the templates of one step may read."""

    pipeline: str
    input_schema: Schema
    steps: Mapping[str, PipelineStep]
    skills: Mapping[str, Skill]
    name: str
    ancestors: frozenset[str]
    item_schema: Schema | None = None
    fans_out: bool = False
    findings: list[Finding] = field(default_factory=list)

    def roots(self, with_item: bool) -> frozenset[str]:
        """The variables a template sees: ``item`` and ``index`` only in a fan-out's input."""
        base = frozenset({"input", "steps"})
        return base | {"item", "index"} if with_item and self.fans_out else base

    def resolve(self, ref: Reference) -> Lookup:
        """The schema ``ref`` points at, or why it cannot be read."""
        if ref.root == "input":
            owner = f"the input_schema of pipeline {self.pipeline!r}"
            return field_schema(self.input_schema, ref.path, label="input", owner=owner)
        if ref.root == "index":
            if ref.path:
                return Lookup(None, "index is an integer, not an object or a list")
            return Lookup({"type": "integer"})
        if ref.root == "item":
            owner = f"the items for_each gives in step {self.name!r}"
            return field_schema(self.item_schema, ref.path, label="item", owner=owner)
        return self._resolve_step(ref)

    def _resolve_step(self, ref: Reference) -> Lookup:
        if not ref.path:
            return Lookup(None)
        name = ref.path[0]
        if not isinstance(name, str):
            return Lookup(None, "write the step's name after steps, as in steps.<name>.output")
        if name == self.name:
            return Lookup(None, f"step {name!r} cannot read its own output or status")
        if name not in self.steps:
            return Lookup(None, _unknown_step(name, self.steps))
        if name not in self.ancestors:
            return Lookup(
                None,
                f"step {self.name!r} reads steps.{name} but does not need {name!r} "
                "(add it to needs, directly or through a step it needs)",
            )
        rest = ref.path[1:]
        if not rest or rest[0] is None:
            return Lookup(None)
        label = f"steps.{name}.{rest[0]}"
        if rest[0] == "status":
            return field_schema(_STATUS_SCHEMA, rest[1:], label=label, owner="a step's status")
        if rest[0] != "output":
            return Lookup(None, f"steps.{name} has 'output' and 'status', not {rest[0]!r}")
        producer = self.steps[name]
        skill = self.skills.get(producer.skill)
        if skill is None:
            return Lookup(None)  # the unknown skill is reported on its own
        output = skill.config.output_schema
        if producer.for_each is not None:
            owner = f"the output_schema of skill {producer.skill!r} (step {name!r} fans out)"
            shape: Schema = {"type": "array", "items": output}
            return field_schema(shape, rest[1:], label=label, owner=owner, root=output)
        owner = f"the output_schema of skill {producer.skill!r}"
        return field_schema(output, rest[1:], label=label, owner=owner)

    def schema_of(self, ref: Reference) -> Schema | None:
        """Like :meth:`resolve`, for type inference: problems are reported elsewhere."""
        return self.resolve(ref).schema


def check_step(
    scope: StepScope,
    when: Expression | None,
    for_each: Expression | None,
    value: CompiledValue,
) -> list[Finding]:
    """Every problem in one step's templates and input, in the order they appear."""
    if when is not None:
        _check_reads(scope, when, ("when",), with_item=False)
    if for_each is not None:
        _check_reads(scope, for_each, ("for_each",), with_item=False)
        scope.item_schema = _item_schema(scope, for_each)
    for path, leaf in _template_leaves(value):
        _check_reads(scope, leaf, ("input", *path), with_item=True)
    skill = scope.skills.get(scope.steps[scope.name].skill)
    if skill is not None:
        _check_fits(scope, value, skill.config.input_schema, (), skill)
    return scope.findings


def _template_leaves(
    value: CompiledValue, path: ValuePath = ()
) -> Iterator[tuple[ValuePath, Expression | TextTemplate]]:
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from _template_leaves(sub, (*path, key))
    elif isinstance(value, list):
        for index, sub in enumerate(value):
            yield from _template_leaves(sub, (*path, index))
    elif isinstance(value, Expression | TextTemplate):
        yield path, value


def _check_reads(
    scope: StepScope, leaf: Expression | TextTemplate, loc: Loc, *, with_item: bool
) -> None:
    roots = scope.roots(with_item)
    tree: nodes.Node = leaf.node
    assigned = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    if isinstance(leaf, TextTemplate):
        used = set(meta.find_undeclared_variables(leaf.node))
    else:
        used = {n.name for n in _names(leaf.node)}
    for name in sorted(used - roots - assigned - environment_globals()):
        where = "only in the input of a step with for_each" if name in ("item", "index") else ""
        message = (
            f"{name!r} exists {where}"
            if where
            else f"unknown variable {name!r} (templates here see: {', '.join(sorted(roots))})"
        )
        scope.findings.append(Finding(loc, message, _line_of(tree, name)))
    for ref in references(tree, roots - assigned):
        problem = scope.resolve(ref).problem
        if problem is not None:
            scope.findings.append(Finding(loc, f"{ref.text}: {problem}", ref.lineno))


def _names(node: nodes.Node) -> Iterator[nodes.Name]:
    if isinstance(node, nodes.Name) and node.ctx == "load":
        yield node
    yield from (n for n in node.find_all(nodes.Name) if n.ctx == "load")


def _line_of(tree: nodes.Node, name: str) -> int:
    lines = [n.lineno for n in _names(tree) if n.name == name]
    return min(lines, default=1)


def _item_schema(scope: StepScope, for_each: Expression) -> Schema | None:
    schema = value_schema(for_each.node, scope.schema_of)
    types = json_types(schema)
    if types is not None and "array" not in types:
        scope.findings.append(
            Finding(
                ("for_each",),
                f"for_each must give a list, but {for_each.source.strip()} is {describe(types)}",
            )
        )
        return None
    items = schema.get("items") if schema is not None else None
    return items if isinstance(items, Mapping) else None


def _check_fits(
    scope: StepScope, value: CompiledValue, schema: Any, path: ValuePath, skill: Skill
) -> None:
    """Compare what ``value`` will be with ``schema``, where both are known."""
    schema = deref(schema, skill.config.input_schema)
    if schema is None:
        return
    wanted = json_types(schema)
    given, what = _given(scope, value)
    loc: Loc = ("input", *path)
    if wanted is not None and given is not None and not compatible(given, wanted):
        scope.findings.append(
            Finding(
                loc,
                f"{format_path(path)}: skill {skill.name!r} wants {describe(wanted)} here, "
                f"but {what} is {describe(given)}",
            )
        )
        return
    if isinstance(value, dict):
        _check_object(scope, value, schema, path, skill)
    elif isinstance(value, list):
        items = schema.get("items")
        for index, sub in enumerate(value):
            _check_fits(
                scope, sub, items if isinstance(items, Mapping) else {}, (*path, index), skill
            )
    elif not isinstance(value, Expression | TextTemplate):
        allowed = schema.get("enum", [schema["const"]] if "const" in schema else None)
        if isinstance(allowed, list) and value not in allowed:
            scope.findings.append(
                Finding(
                    loc,
                    f"{format_path(path)}: skill {skill.name!r} takes one of "
                    f"{', '.join(map(repr, allowed))} here, not {value!r}",
                )
            )


def _check_object(
    scope: StepScope, value: dict[str, CompiledValue], schema: Schema, path: ValuePath, skill: Skill
) -> None:
    loc: Loc = ("input", *path)
    required = schema.get("required")
    for name in required if isinstance(required, list) else []:
        if name not in value:
            scope.findings.append(
                Finding(
                    loc,
                    f"{format_path(path)}: missing {name!r}, which the input_schema of "
                    f"skill {skill.name!r} requires",
                )
            )
    properties = schema.get("properties")
    properties = properties if isinstance(properties, Mapping) else {}
    for key, sub in value.items():
        if key in properties:
            _check_fits(scope, sub, properties[key], (*path, key), skill)
        elif schema.get("additionalProperties") is False and not schema.get("patternProperties"):
            known = ", ".join(sorted(properties)) or "none"
            scope.findings.append(
                Finding(
                    (*loc, key),
                    f"{format_path((*path, key))}: the input_schema of skill {skill.name!r} "
                    f"has no property {key!r} (it takes: {known})",
                )
            )


def _given(scope: StepScope, value: CompiledValue) -> tuple[frozenset[str] | None, str]:
    """The JSON types ``value`` will have (None when unknown), and how to name it."""
    if isinstance(value, Expression):
        return json_types(value_schema(value.node, scope.schema_of)), value.source.strip()
    if isinstance(value, TextTemplate):
        return frozenset({"string"}), "a text template"
    if isinstance(value, dict | list):
        return frozenset({json_type_of(value)}), "the value written here"
    return frozenset({json_type_of(value)}), repr(value)


def _unknown_step(name: str, steps: Mapping[str, Any]) -> str:
    return unknown_message("step", name, steps)
