"""The hooks a chimera plugin may implement.

Every hook is synchronous and is called once per plugin manager. The ``register_*`` hooks
receive a ``register(name, factory)`` callback; a factory takes a
:class:`~chimera.plugins.context.PluginContext` and returns the object, whose methods are
``async`` (an LLM backend's ``complete``, a policy's ``decide``, a sink's ``write``). The
lifecycle hooks (``chimera_after_*``) are called synchronously on the event loop after the
fact: keep them fast, and never block on I/O there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("chimera")
hookimpl = pluggy.HookimplMarker("chimera")

#: ``register(name, factory)``: a factory takes a PluginContext and returns the object.
Register = Callable[[str, Callable[[Any], Any]], None]


@hookspec
def register_backends(register: Register) -> None:
    """Register LLM backends by name.

    Call ``register("name", factory)`` once per backend. ``factory(context)`` returns an
    object with ``name: str`` and ``async def complete(request: LLMRequest) ->
    LLMResponse``; it raises ``BackendError`` on failure. Skills pick a backend with
    ``backend: name``.
    """


@hookspec
def register_policies(register: Register) -> None:
    """Register Judge policies by name.

    ``factory(context)`` returns an object with ``name: str`` and ``async def decide(item:
    PolicyInput) -> Decision``; the same input must give the same decision. swarm.yaml picks
    a policy with ``judge: {policy: name}`` at swarm, tenant or skill level.
    """


@hookspec
def register_audit_sinks(register: Register) -> None:
    """Register audit sinks by name.

    ``factory(context)`` returns an object with ``name: str`` and ``async def write(events:
    Sequence[AuditEvent]) -> None`` that returns only once the events are stored and raises
    otherwise (the Judge then commits nothing). swarm.yaml lists sinks under
    ``audit: {sinks: [...]}``.
    """


@hookspec
def chimera_after_decision(decision: Any) -> None:
    """Called after the Judge decided on a Result and the audit sinks stored it.

    ``decision`` is the :class:`~chimera.models.decision.Decision`. Runs before the commit;
    raising here is logged and does not stop the commit.
    """


@hookspec
def chimera_after_commit(task_id: str, tenant: str, outcome: str) -> None:
    """Called after the unit of work applied a decision.

    ``outcome`` is one of ``committed``, ``denied``, ``review``, ``retried``,
    ``duplicate`` or ``rejected``. Raising here is logged and changes nothing.
    """
