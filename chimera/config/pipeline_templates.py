"""Templates in pipeline steps: input values, ``when`` and ``for_each`` expressions.

Everything runs in Jinja2's immutable sandbox, with undefined names and fields as errors.
A step's ``input`` is a JSON value whose strings may be templates:

- a string that is exactly one ``{{ expression }}`` gives the expression's own value, so a
  list or an object passes from one step to the next without turning into text;
- any other string with ``{{``, ``{%`` or ``{#`` in it renders to a string;
- everything else is a literal.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, Undefined, nodes

from chimera.config.templates import (
    BoundedSandbox,
    TemplateProblem,
    TemplateRenderError,
    check_names,
    reject_private_access,
)

#: A position inside a step's input: object keys and list indexes from its top.
ValuePath = tuple[str | int, ...]

_MARKERS = ("{{", "{%", "{#")


class _PipelineEnvironment(BoundedSandbox):
    """The bounded sandbox, except that a mapping's own keys win over its methods.

    Plain Jinja looks ``x.items`` up as the dict method first, so an output field called
    ``items``, ``values`` or ``keys`` would be unreachable with dot syntax; step outputs are
    data, so their fields come first.
    """

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, dict) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


@functools.cache
def _environment() -> _PipelineEnvironment:
    # autoescape is for HTML; inputs are data and must reach the skill verbatim.
    return _PipelineEnvironment(undefined=StrictUndefined, autoescape=False)


def environment_globals() -> frozenset[str]:
    """Names every template may use besides its variables (``range``, ``dict``, ...)."""
    return frozenset(_environment().globals)


@dataclass(frozen=True)
class Expression:
    """A compiled Jinja expression (no braces) that evaluates to a native value."""

    source: str
    node: nodes.Expr
    _evaluate: Callable[..., Any]

    @classmethod
    def compile(cls, source: str) -> Expression:
        """Compile ``source``, an expression such as ``steps.a.output.items | length``.

        Raises:
            TemplateProblem: a syntax error or a private attribute.
        """
        env = _environment()
        try:
            template = env.parse("{{ " + source + " }}")
            check_names(env, template)
            evaluate = env.compile_expression(source, undefined_to_none=False)
        except TemplateSyntaxError as exc:
            raise TemplateProblem(f"expression syntax error: {exc.message}", exc.lineno) from None
        except RecursionError:  # Jinja recurses once per nesting level of an expression
            raise TemplateProblem("expression nested too deeply") from None
        node = _single_expression(template)
        if node is None:  # pragma: no cover - compile_expression already refuses any extra
            raise TemplateProblem("expected one expression")
        reject_private_access(template)  # the template, so the root node is checked too
        return cls(source, node, evaluate)

    def evaluate(self, context: Mapping[str, Any]) -> Any:
        """Evaluate with ``context`` as the variables; the value is converted to JSON.

        Raises:
            TemplateRenderError: an undefined name or field, a failing filter, or a value
                that is not JSON (a function, a non-finite number).
        """
        try:
            value = self._evaluate(**context)
            return to_json_value(value)
        except (TemplateError, TypeError, ValueError, ArithmeticError, RecursionError) as exc:
            raise TemplateRenderError(str(exc) or type(exc).__name__) from None


@dataclass(frozen=True)
class TextTemplate:
    """A string with template tags in it; it always renders to a string."""

    source: str
    node: nodes.Template
    _template: Any

    def render(self, context: Mapping[str, Any]) -> str:
        """Render with ``context`` as the variables.

        Raises:
            TemplateRenderError: an undefined name or field, or a failing filter.
        """
        try:
            rendered: str = self._template.render(context)
        except (TemplateError, TypeError, ValueError, ArithmeticError, RecursionError) as exc:
            raise TemplateRenderError(str(exc) or type(exc).__name__) from None
        return rendered


#: A compiled template leaf, or a literal scalar.
Leaf = Expression | TextTemplate | str | int | float | bool | None
#: A step's input, compiled: the same shape as written, with templates in place of strings.
CompiledValue = Leaf | list["CompiledValue"] | dict[str, "CompiledValue"]


def compile_string(text: str) -> Expression | TextTemplate | str:
    """Compile one string of a step's input: a native expression, a text template or a literal.

    Raises:
        TemplateProblem: a syntax error or a private attribute.
    """
    if not any(marker in text for marker in _MARKERS):
        return text
    env = _environment()
    try:
        ast = env.parse(text)
        check_names(env, ast)
        reject_private_access(ast)
        inner = _native_source(text)
        if inner is not None and _single_expression(ast) is not None:
            return Expression.compile(inner)
        return TextTemplate(text, ast, env.from_string(ast))
    except TemplateSyntaxError as exc:  # also compile-time ones (a block defined twice)
        raise TemplateProblem(f"template syntax error: {exc.message}", exc.lineno or 1) from None
    except RecursionError:  # Jinja recurses once per nesting level of an expression
        raise TemplateProblem("template nested too deeply") from None


def compile_value(
    value: Any, path: ValuePath = ()
) -> tuple[CompiledValue, list[tuple[ValuePath, TemplateProblem]]]:
    """Compile every string in ``value``; a string that fails stays as written.

    Returns:
        The compiled value and, for each string that failed, its path and the problem.
    """
    problems: list[tuple[ValuePath, TemplateProblem]] = []

    def walk(item: Any, where: ValuePath) -> CompiledValue:
        if isinstance(item, dict):
            return {key: walk(sub, (*where, key)) for key, sub in item.items()}
        if isinstance(item, list):
            return [walk(sub, (*where, index)) for index, sub in enumerate(item)]
        if isinstance(item, str):
            try:
                return compile_string(item)
            except TemplateProblem as exc:
                problems.append((where, exc))
                return item
        leaf: Leaf = item
        return leaf

    return walk(value, path), problems


def leaves(value: CompiledValue, path: ValuePath = ()) -> Iterator[tuple[ValuePath, Leaf]]:
    """Every leaf of a compiled value with its path, depth first in written order."""
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from leaves(sub, (*path, key))
    elif isinstance(value, list):
        for index, sub in enumerate(value):
            yield from leaves(sub, (*path, index))
    else:
        yield path, value


def render_value(value: CompiledValue, context: Mapping[str, Any], path: ValuePath = ()) -> Any:
    """Render a compiled value into plain JSON.

    Raises:
        TemplateRenderError: with the path of the failing string in front of the reason.
    """
    if isinstance(value, dict):
        return {key: render_value(sub, context, (*path, key)) for key, sub in value.items()}
    if isinstance(value, list):
        return [render_value(sub, context, (*path, index)) for index, sub in enumerate(value)]
    try:
        if isinstance(value, Expression):
            return value.evaluate(context)
        if isinstance(value, TextTemplate):
            return value.render(context)
    except TemplateRenderError as exc:
        raise TemplateRenderError(f"{format_path(path)}: {exc}") from None
    return value


def format_path(path: ValuePath, root: str = "input") -> str:
    """``input.a[0].b`` for the path ``("a", 0, "b")``."""
    return root + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


def to_json_value(value: Any) -> Any:
    """Convert an expression's value into JSON: tuples and iterators become lists.

    Raises:
        ValueError: for undefined values and for anything JSON cannot hold.
    """
    if isinstance(value, Undefined):
        str(value)  # StrictUndefined raises with Jinja's own message ("... is undefined")
        raise ValueError("the value is undefined")  # pragma: no cover - other Undefined kinds
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} is not a JSON number")
        return value
    if isinstance(value, str):
        return str(value)  # Markup and other str subclasses become plain strings
    if isinstance(value, Mapping):
        out = {}
        for key, sub in value.items():
            if not isinstance(key, str):
                raise ValueError(f"object key {key!r} is not a string")
            out[key] = to_json_value(sub)
        return out
    if isinstance(value, list | tuple | range | Iterator):
        # Filters such as map() and select() give generators: take them as the list they yield.
        return [to_json_value(sub) for sub in value]
    raise ValueError(f"a {type(value).__name__} is not a JSON value")


def _native_source(text: str) -> str | None:
    """The expression inside a string that is only ``{{ ... }}`` (spaces around allowed)."""
    stripped = text.strip()
    if not (stripped.startswith("{{") and stripped.endswith("}}")):
        return None
    inner = stripped[2:-2]
    inner = inner.removeprefix("-").removeprefix("+").removesuffix("-").removesuffix("+")
    return inner.strip()


def _single_expression(ast: nodes.Template) -> nodes.Expr | None:
    """The expression when ``ast`` is one ``{{ ... }}`` and blank text at most, else None."""
    if len(ast.body) != 1 or not isinstance(ast.body[0], nodes.Output):
        return None
    parts = [
        n
        for n in ast.body[0].nodes
        if not (isinstance(n, nodes.TemplateData) and not n.data.strip())
    ]
    if len(parts) != 1 or isinstance(parts[0], nodes.TemplateData):
        return None
    return parts[0]
