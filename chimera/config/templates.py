"""Prompt templates: Jinja2 in a sandbox, checked against the skill's input schema at load."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

#: Names every template may use besides the input's own properties.
RESERVED_VARIABLES = frozenset({"input", "feedback", "attempt", "skill", "tenant"})


class TemplateProblem(Exception):
    """A template that cannot be used; ``lineno`` is 1-based within the template."""

    def __init__(self, message: str, lineno: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.lineno = lineno


class TemplateRenderError(Exception):
    """Rendering failed for this input (an optional property used without a default)."""


def _environment() -> ImmutableSandboxedEnvironment:
    # autoescape is for HTML; prompts are plain text and must reach the model verbatim.
    return ImmutableSandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
    )


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

    @classmethod
    def compile(cls, source: str, allowed: frozenset[str]) -> PromptTemplate:
        """Parse ``source`` and check that it only uses ``allowed`` or reserved names.

        Raises:
            TemplateProblem: a syntax error, a private attribute, or an unknown variable.
        """
        env = _environment()
        try:
            ast = env.parse(source)
        except TemplateSyntaxError as exc:
            raise TemplateProblem(f"template syntax error: {exc.message}", exc.lineno) from None
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
        return cls(source, used, env.from_string(ast))

    def render(self, input: Mapping[str, Any], **extra: Any) -> str:
        """Render with the input's properties as variables, plus ``input`` and ``extra``.

        An optional property the input leaves out stays undefined: ``| default(...)`` and
        ``is defined`` work on it, and using it bare raises :class:`TemplateRenderError`.
        """
        context: dict[str, Any] = {"feedback": None, "attempt": 1}
        context.update(input)
        context.update(extra)
        context["input"] = input
        try:
            rendered: str = self._template.render(context)
        except (TemplateError, TypeError, ValueError) as exc:
            raise TemplateRenderError(str(exc)) from exc
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


def _line_of(ast: nodes.Template, name: str) -> int:
    lines = [n.lineno for n in ast.find_all(nodes.Name) if n.name == name and n.ctx == "load"]
    return min(lines, default=1)
