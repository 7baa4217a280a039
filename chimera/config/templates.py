"""Prompt templates: Jinja2 in a sandbox, checked against the skill's input schema at load."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

#: Names every template may use besides the input's own properties.
RESERVED_VARIABLES = frozenset({"input", "feedback", "attempt", "skill", "tenant"})

#: Longest string or list one ``*`` may build while rendering, and the largest integer
#: exponent of ``**``: a task's input (``{{ text * times }}``) must not make a worker build
#: gigabytes or compute for minutes.
MAX_REPEAT = 1_000_000
MAX_EXPONENT = 10_000


class TemplateProblem(Exception):
    """A template that cannot be used; ``lineno`` is 1-based within the template."""

    def __init__(self, message: str, lineno: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.lineno = lineno


class TemplateRenderError(Exception):
    """Rendering failed for this input (an optional property used without a default)."""


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """The sandbox, with ``*`` and ``**`` bounded (Jinja's own sandbox bounds only range)."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        """Apply ``operator``, refusing results too large to build."""
        if operator == "*":
            _check_repeat(left, right)
            _check_repeat(right, left)
        elif _is_int(right) and abs(right) > MAX_EXPONENT and _is_int(left) and abs(left) > 1:
            raise SecurityError(f"exponent {right} is above {MAX_EXPONENT}")
        return super().call_binop(context, operator, left, right)


def _check_repeat(sequence: Any, count: Any) -> None:
    sized = isinstance(sequence, str | list | tuple) and _is_int(count)
    if sized and len(sequence) * count > MAX_REPEAT:
        raise SecurityError(f"'*' would build more than {MAX_REPEAT:,} items")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _environment() -> ImmutableSandboxedEnvironment:
    # autoescape is for HTML; prompts are plain text and must reach the model verbatim.
    return BoundedSandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


@dataclass(frozen=True)
class PromptTemplate:
    """A compiled prompt template.

    The sandbox stops a template from reaching Python internals at render time; on top of
    that, :meth:`compile` rejects any attribute starting with ``_`` outright, so such a
    template fails at load rather than on the first task.
    """

    source: str
    variables: frozenset[str]
    _template: Any
    _base: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_base", dict(self._template.globals))

    @classmethod
    def compile(cls, source: str, allowed: frozenset[str]) -> PromptTemplate:
        """Parse ``source`` and check that it only uses ``allowed`` or reserved names.

        Raises:
            TemplateProblem: a syntax error, a private attribute, or an unknown variable.
        """
        env = _environment()
        try:
            return cls._compile(env, source, allowed)
        except RecursionError:
            # Jinja's parser and code generator recurse once per nesting level of an
            # expression; a prompt that deep is not a prompt.
            raise TemplateProblem("template expressions are nested too deeply") from None

    @classmethod
    def _compile(
        cls, env: ImmutableSandboxedEnvironment, source: str, allowed: frozenset[str]
    ) -> PromptTemplate:
        try:
            ast = env.parse(source)
        except TemplateSyntaxError as exc:
            raise TemplateProblem(f"template syntax error: {exc.message}", exc.lineno) from None
        check_names(env, ast)
        loads = (nodes.Include, nodes.Extends, nodes.Import, nodes.FromImport)
        for load in ast.find_all(loads):
            raise TemplateProblem(
                "a prompt cannot include, extend or import other templates", load.lineno
            )
        reject_private_access(ast)
        used = frozenset(meta.find_undeclared_variables(ast))
        unknown = sorted(used - allowed - RESERVED_VARIABLES)
        if unknown:
            name = unknown[0]
            raise TemplateProblem(
                f"template variable {name!r} is not a property of input_schema "
                f"(known: {', '.join(sorted(allowed)) or 'none'})",
                _line_of(ast, name),
            )
        try:
            template = env.from_string(ast)
        except TemplateSyntaxError as exc:  # compile-time checks, e.g. a block defined twice
            raise TemplateProblem(f"template error: {exc.message}", exc.lineno or 1) from None
        return cls(source, used, template)

    def render(self, input: Mapping[str, Any], **extra: Any) -> str:
        """Render with the input's properties as variables, plus ``input`` and ``extra``.

        An optional property the input leaves out stays undefined: ``| default(...)`` and
        ``is defined`` work on it, and using it bare raises :class:`TemplateRenderError`.
        """
        template = self._template
        # What ``Template.render`` does, without copying the Jinja globals (a ChainMap,
        # slow to copy) into a new dict on every call: they are copied once, in ``_base``.
        context: dict[str, Any] = {**self._base, "feedback": None, "attempt": 1}
        context.update(input)
        context.update(extra)
        context["input"] = input
        try:
            ctx = template.new_context(context, shared=True)
            rendered: str = template.environment.concat(template.root_render_func(ctx))
        except (TemplateError, TypeError, ValueError, ArithmeticError, RecursionError) as exc:
            # The input decides these (a zero divisor, a recursive macro): a failed task,
            # never a traceback in the worker.
            message = str(exc) if isinstance(exc, TemplateError) else f"{type(exc).__name__}: {exc}"
            raise TemplateRenderError(message[:500]) from exc
        return rendered


def reject_private_access(ast: nodes.Node) -> None:
    """Refuse any attribute or constant subscript starting with ``_`` anywhere in ``ast``.

    Raises:
        TemplateProblem: naming the first such attribute and its line.
    """
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        attr = getattr(node, "attr", None)
        if attr is None and isinstance(node, nodes.Getitem):
            const = node.arg
            attr = const.value if isinstance(const, nodes.Const) else None
        if isinstance(attr, str) and attr.startswith("_"):
            raise TemplateProblem(
                f"template may not access private attribute {attr!r}", node.lineno
            )


def check_names(env: ImmutableSandboxedEnvironment, ast: nodes.Node) -> None:
    """Refuse filters and tests Jinja does not know, at the line that uses them.

    Jinja itself reports an unknown filter only when it compiles the template, and an
    unknown test inside ``{% if %}`` only when that branch first renders: on a worker,
    as a failed task. Checking the names here makes both a load error.
    """
    kinds: list[tuple[type[nodes.Filter | nodes.Test], str, Any]] = [
        (nodes.Filter, "filter", env.filters),
        (nodes.Test, "test", env.tests),
    ]
    for node_type, kind, known in kinds:
        for node in ast.find_all(node_type):
            if node.name not in known:
                message = f"unknown {kind} {node.name!r}"
                close = difflib.get_close_matches(node.name, list(known), n=1, cutoff=0.6)
                close = close or sorted(k for k in known if k[:2] == node.name[:2])[:1]
                if close:
                    message += f"; did you mean {close[0]!r}?"
                raise TemplateProblem(message, node.lineno)


def _line_of(ast: nodes.Template, name: str) -> int:
    lines = [n.lineno for n in ast.find_all(nodes.Name) if n.name == name and n.ctx == "load"]
    return min(lines, default=1)
