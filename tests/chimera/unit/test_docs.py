"""The docs keep up with the code.

Every hook in ``chimera.plugins.hookspecs`` has a heading in ``docs/plugins.md`` that shows its
signature, and every command of the ``chimera`` CLI (group subcommands included) appears in
README.md. Adding a hook or a command without documenting it fails here.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace

import click
import pytest

from chimera.cli.app import cli
from chimera.plugins import hookspecs
from chimera.plugins.hookspecs import hookspec

ROOT = Path(__file__).resolve().parents[3]
PLUGINS_DOC = ROOT / "docs" / "plugins.md"
README = ROOT / "README.md"

#: pluggy's HookspecMarker("chimera") marks each spec function with this attribute.
SPEC_ATTRIBUTE = f"{hookspec.project_name}_spec"


def hook_specs(module: ModuleType | SimpleNamespace) -> dict[str, inspect.Signature]:
    """Every function marked as a ``chimera`` hookspec, with its signature."""
    return {
        name: inspect.signature(obj)
        for name, obj in sorted(vars(module).items())
        if inspect.isfunction(obj) and getattr(obj, SPEC_ATTRIBUTE, None) is not None
    }


def headings(markdown: str) -> list[str]:
    """The text of every Markdown heading, leaving out lines inside fenced code blocks."""
    found: list[str] = []
    fenced = False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"#{1,6}\s", line):
            found.append(line.lstrip("#").strip())
    return found


def undocumented_hooks(specs: dict[str, inspect.Signature], markdown: str) -> list[str]:
    """Hooks with no heading showing ``name(param, ...)`` exactly as the spec declares it."""
    titles = headings(markdown)
    missing = []
    for name, signature in specs.items():
        call = f"{name}({', '.join(signature.parameters)})"
        if not any(re.search(rf"(?<!\w){re.escape(call)}", title) for title in titles):
            missing.append(call)
    return missing


def command_paths(group: click.Group, prefix: tuple[str, ...] = ("chimera",)) -> Iterator[str]:
    """``chimera <command>`` for every visible command, then ``chimera <group> <sub>``."""
    for name, command in sorted(group.commands.items()):
        if command.hidden:
            continue
        path = (*prefix, name)
        yield " ".join(path)
        if isinstance(command, click.Group):
            yield from command_paths(command, path)


def documented_subcommands(prefix: str, markdown: str) -> set[str]:
    """Words written right after ``prefix``, including alternatives: ``a|b ID|c`` gives a, b, c.

    A mention runs to the end of its code span or line, so ``chimera review list\\|approve
    ID\\|reject ID`` in a table documents all three.
    """
    found: set[str] = set()
    for match in re.finditer(rf"(?<![\w-]){re.escape(prefix)} ", markdown):
        rest = re.split(r"[`\n]", markdown[match.end() :], maxsplit=1)[0]
        for alternative in rest.replace("\\|", "|").split("|"):
            words = alternative.split()
            if words:
                found.add(words[0])
    return found


def undocumented_commands(group: click.Group, markdown: str) -> list[str]:
    """Commands of ``group`` that ``markdown`` never names."""
    missing = []
    for path in command_paths(group):
        *parent, name = path.split(" ")
        if len(parent) == 1:
            documented = re.search(rf"(?<![\w-]){re.escape(path)}(?![\w-])", markdown) is not None
        else:
            documented = name in documented_subcommands(" ".join(parent), markdown)
        if not documented:
            missing.append(path)
    return missing


def test_hookspecs_are_found() -> None:
    names = set(hook_specs(hookspecs))
    assert {"register_backends", "chimera_after_commit"} <= names
    assert "hookspec" not in names
    assert "Register" not in names


def test_every_hook_has_a_heading_with_its_signature_in_the_plugin_guide() -> None:
    assert undocumented_hooks(hook_specs(hookspecs), PLUGINS_DOC.read_text(encoding="utf-8")) == []


def test_a_new_hook_without_a_heading_is_caught() -> None:
    @hookspec
    def chimera_before_lunch(task_id: str) -> None:
        """A hook nobody wrote up."""

    module = SimpleNamespace(**vars(hookspecs), chimera_before_lunch=chimera_before_lunch)
    missing = undocumented_hooks(hook_specs(module), PLUGINS_DOC.read_text(encoding="utf-8"))
    assert missing == ["chimera_before_lunch(task_id)"]


def test_a_hook_whose_parameters_changed_is_caught() -> None:
    @hookspec
    def chimera_after_commit(task_id: str, tenant: str, outcome: str, attempt: int) -> None:
        """The real hook, with one parameter more than the guide shows."""

    specs = {"chimera_after_commit": inspect.signature(chimera_after_commit)}
    missing = undocumented_hooks(specs, PLUGINS_DOC.read_text(encoding="utf-8"))
    assert missing == ["chimera_after_commit(task_id, tenant, outcome, attempt)"]


def test_headings_inside_code_blocks_do_not_count() -> None:
    markdown = "# Guide\n\n```python\n# register_backends(register)\n```\n"
    specs = {"register_backends": inspect.signature(hookspecs.register_backends)}
    assert undocumented_hooks(specs, markdown) == ["register_backends(register)"]


def test_command_tree_is_walked_into_groups() -> None:
    paths = list(command_paths(cli))
    assert "chimera run" in paths
    assert "chimera review approve" in paths
    assert "chimera dlq replay" in paths


def test_every_cli_command_appears_in_the_readme() -> None:
    assert undocumented_commands(cli, README.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    ("readme", "missing"),
    [
        ("`chimera run` and `chimera review list\\|approve ID`", ["chimera review reject"]),
        ("`chimera running` and `chimera review list|approve|reject`", ["chimera run"]),
        (
            "`chimera run`; chimera review: list, approve, reject",
            ["chimera review approve", "chimera review list", "chimera review reject"],
        ),
    ],
)
def test_a_command_missing_from_the_readme_is_caught(readme: str, missing: list[str]) -> None:
    review = click.Group("review")
    for name in ("approve", "list", "reject"):
        review.add_command(click.Command(name))
    group = click.Group("chimera", commands=[click.Command("run"), review])
    assert undocumented_commands(group, readme) == missing


def test_a_new_cli_command_without_docs_is_caught() -> None:
    group = click.Group("chimera", commands=dict(cli.commands))
    group.add_command(click.Command("frobnicate"))
    real_review = cli.commands["review"]
    assert isinstance(real_review, click.Group)
    review = click.Group("review", commands=dict(real_review.commands))
    review.add_command(click.Command("escalate"))
    group.add_command(review)
    missing = undocumented_commands(group, README.read_text(encoding="utf-8"))
    assert missing == ["chimera frobnicate", "chimera review escalate"]
