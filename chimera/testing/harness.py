"""Reach an installed plugin the way chimera does: registry, checked build, loading, CLI.

A plugin's tests use these instead of chimera's internal modules, so they keep working
when those move.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from chimera.config.swarm import Swarm
from chimera.plugins.context import PluginContext
from chimera.plugins.loading import load_checked
from chimera.plugins.manager import get_plugin_manager
from chimera.plugins.registry import Registry, build_registry
from chimera.ports.judge import AuditSink, JudgePolicy
from chimera.ports.llm import LLMBackend


def installed_registry() -> Registry:
    """What the built-ins and every installed plugin register, as ``chimera plugins`` sees it.

    ``registry.backends`` (and ``policies``, ``sinks``) map names to factories,
    ``registry.tool_backends`` names the backends registered with ``tools=True``, and
    ``registry.plugins`` lists each plugin with what it registered.
    """
    return build_registry(get_plugin_manager())


def build_backend(name: str, context: PluginContext | None = None) -> LLMBackend:
    """Build the installed backend ``name`` and check it against the LLM backend port.

    Raises:
        PluginError: the factory failed or built an object that does not fit the port.
    """
    return installed_registry().build_backend(name, context or PluginContext())


def build_policy(name: str, context: PluginContext | None = None) -> JudgePolicy:
    """Build the installed policy ``name`` and check it against the Judge policy port."""
    return installed_registry().build_policy(name, context or PluginContext())


def build_sink(name: str, context: PluginContext | None = None) -> AuditSink:
    """Build the installed audit sink ``name`` and check it against the audit sink port."""
    return installed_registry().build_sink(name, context or PluginContext())


def load_swarm_checked(path: str | Path) -> Swarm:
    """Load a swarm as every chimera command does: plugin names, then plugin checks.

    Raises:
        ConfigError: every problem, each with ``file:line:col`` (``error.problems``).
    """
    return load_checked(path)


@dataclass(frozen=True)
class CliOutcome:
    """How a ``chimera`` command ended: its exit code and what it printed."""

    exit_code: int
    stdout: str
    stderr: str


def run_cli(*args: str) -> CliOutcome:
    """Run ``chimera <args>`` in this process and return what it printed.

    An exception the command did not handle propagates (with its traceback); expected
    faults end with exit code 2 and one line per problem on ``stderr``.
    """
    from click.testing import CliRunner

    from chimera.cli.app import cli

    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return CliOutcome(result.exit_code, result.stdout, result.stderr)
