"""The types a plugin sees at the boundary: factories, registrars and config issues.

A ``register_*`` hook receives a registrar and calls it once per object it provides,
with a name and a *factory*: a function that takes the
:class:`~chimera.plugins.context.PluginContext` and returns the object. Nothing is built
while plugins register; chimera builds only what a swarm uses, and checks each object
against its port (:mod:`chimera.plugins.contracts`) when it does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeAlias

from chimera.plugins.context import PluginContext
from chimera.ports.judge import AuditSink, JudgePolicy
from chimera.ports.llm import LLMBackend

#: Builds an LLM backend (an object with ``name`` and ``async def complete``).
BackendFactory: TypeAlias = Callable[[PluginContext], LLMBackend]
#: Builds a Judge policy (an object with ``name`` and ``async def decide``).
PolicyFactory: TypeAlias = Callable[[PluginContext], JudgePolicy]
#: Builds an audit sink (an object with ``name`` and ``async def write``).
SinkFactory: TypeAlias = Callable[[PluginContext], AuditSink]

#: Where a config issue is, as keys and list indices (``("options", "temprature")``).
IssuePath: TypeAlias = tuple[str | int, ...]


class BackendRegistrar(Protocol):
    """``register(name, factory, *, tools=False)``, handed to ``register_backends``."""

    def __call__(self, name: str, factory: BackendFactory, *, tools: bool = False) -> None:
        """Offer the LLM backend ``name``, built by ``factory``.

        Args:
            name: what skills write as ``backend:``.
            factory: builds the backend when a swarm uses it.
            tools: the backend can call tools (answers with tool calls when the request
                offers tools). A skill with ``tools:`` on a backend registered without
                it is a ``chimera validate`` error.
        """
        ...


class PolicyRegistrar(Protocol):
    """``register(name, factory)``, handed to ``register_policies``."""

    def __call__(self, name: str, factory: PolicyFactory) -> None:
        """Offer the Judge policy ``name`` (swarm.yaml's ``judge: {policy: name}``)."""
        ...


class SinkRegistrar(Protocol):
    """``register(name, factory)``, handed to ``register_audit_sinks``."""

    def __call__(self, name: str, factory: SinkFactory) -> None:
        """Offer the audit sink ``name`` (swarm.yaml's ``audit: {sinks: [name]}``)."""
        ...


@dataclass(frozen=True)
class ConfigIssue:
    """One problem a plugin found in the configuration it was asked to check.

    chimera turns it into a ``file:line:col: message`` line.

    Attributes:
        path: where the problem is, from the root the hook names: the skill file's top
            level for ``check_skill`` (``("options", "temprature")``, ``("model",)``), the
            ``judge.options`` mapping for ``check_judge_options`` (``("max_chars",)``).
            ``()`` is the root itself; a path that is not in the file points at its
            nearest ancestor that is.
        message: what is wrong and, where it helps, how to fix it; one line.
        key: point at the key of ``path`` rather than its value (an unknown option name).
    """

    path: IssuePath
    message: str
    key: bool = False
