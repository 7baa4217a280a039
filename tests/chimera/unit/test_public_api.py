"""``chimera``'s public API: complete, lazy, typed, and all the plugin packages use.

The packages under ``plugins/`` are what third-party plugins look like, so they may import
``chimera`` (and ``chimera.testing`` in their tests) and nothing deeper: a test here
fails the day one of them reaches into an internal module.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import chimera

ROOT = Path(__file__).resolve().parents[3]
PLUGIN_SOURCES = sorted(ROOT.glob("plugins/*/src/**/*.py"))
PLUGIN_TESTS = sorted(ROOT.glob("plugins/*/tests/**/*.py"))


def chimera_imports(path: Path) -> list[str]:
    """Every ``chimera...`` module ``path`` imports, wherever the import statement is."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append(node.module)
    return [name for name in found if name == "chimera" or name.startswith("chimera.")]


def test_every_public_name_resolves_to_where_it_is_said_to_live() -> None:
    assert sorted(chimera.__all__) == sorted(chimera._EXPORTS)
    for name, module in chimera._EXPORTS.items():
        value = getattr(chimera, name)
        assert value is getattr(__import__(module, fromlist=[name]), name), name


def test_type_checkers_see_the_same_names() -> None:
    tree = ast.parse(Path(chimera.__file__).read_text(encoding="utf-8"))
    (block,) = [
        node
        for node in tree.body
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
    ]
    typed = {
        alias.name: node.module
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert typed == chimera._EXPORTS


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="module 'chimera' has no attribute 'Nope'"):
        _ = chimera.Nope  # type: ignore[attr-defined]
    assert "LLMBackend" in dir(chimera)


def test_importing_chimera_imports_nothing_else_of_it() -> None:
    code = "import sys, chimera; print(sorted(m for m in sys.modules if m.startswith('chimera.')))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_the_plugin_sources_exist() -> None:
    packages = {path.relative_to(ROOT).parts[1] for path in PLUGIN_SOURCES}
    assert packages == {"jsonl-audit", "openai", "pattern-policy"}


@pytest.mark.parametrize("path", PLUGIN_SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_plugin_packages_import_only_the_public_api(path: Path) -> None:
    assert [name for name in chimera_imports(path) if name != "chimera"] == []


@pytest.mark.parametrize("path", PLUGIN_TESTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_plugin_tests_import_only_the_public_api_and_chimera_testing(path: Path) -> None:
    allowed = {"chimera", "chimera.testing"}
    assert [name for name in chimera_imports(path) if name not in allowed] == []


def test_the_boundary_check_catches_a_deep_import(tmp_path: Path) -> None:
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text(
        "from chimera import hookimpl\n"
        "def f():\n"
        "    from chimera.plugins.manager import get_plugin_manager\n"
        "    import chimera.lib.keys\n"
    )
    deep = [name for name in chimera_imports(sneaky) if name != "chimera"]
    assert deep == ["chimera.plugins.manager", "chimera.lib.keys"]
