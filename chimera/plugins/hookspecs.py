"""The hooks a chimera plugin may implement.

Every hook is synchronous and is called once per plugin manager. The ``register_*`` hooks
receive a typed registrar (:mod:`chimera.plugins.registrars`); a factory takes a
:class:`~chimera.plugins.context.PluginContext` and returns the object, whose methods are
``async`` (an LLM backend's ``complete``, a policy's ``decide``, a sink's ``write``). The
``check_*`` hooks run whenever a command loads a swarm (``chimera validate`` included) and
return the problems they find. The lifecycle hooks (``chimera_after_*``) are called
synchronously on the event loop after the fact: keep them fast, and never block on I/O
there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import pluggy

from chimera.models.types import JsonValue
from chimera.plugins.registrars import (
    BackendRegistrar,
    ConfigIssue,
    PolicyRegistrar,
    SinkRegistrar,
)

if TYPE_CHECKING:
    from chimera.models.config import SkillConfig
    from chimera.models.decision import Decision

hookspec = pluggy.HookspecMarker("chimera")
hookimpl = pluggy.HookimplMarker("chimera")


@hookspec
def register_backends(register: BackendRegistrar) -> None:
    """Register LLM backends by name.

    Call ``register("name", factory, tools=...)`` once per backend. ``factory(context)``
    returns an object with ``name: str`` and ``async def complete(request: LLMRequest) ->
    LLMResponse``; it raises ``BackendError`` on failure. ``tools=True`` declares that the
    backend answers with tool calls when the request offers tools. Skills pick a backend
    with ``backend: name``.
    """


@hookspec
def register_policies(register: PolicyRegistrar) -> None:
    """Register Judge policies by name.

    ``factory(context)`` returns an object with ``name: str`` and ``async def decide(item:
    PolicyInput) -> Decision``; the same input must give the same decision. swarm.yaml picks
    a policy with ``judge: {policy: name}`` at swarm, tenant or skill level.
    """


@hookspec
def register_audit_sinks(register: SinkRegistrar) -> None:
    """Register audit sinks by name.

    ``factory(context)`` returns an object with ``name: str`` and ``async def write(events:
    Sequence[AuditEvent]) -> None`` that returns only once the events are stored and raises
    otherwise (the Judge then commits nothing). swarm.yaml lists sinks under
    ``audit: {sinks: [...]}``.
    """


@hookspec
def check_skill(backend: str, skill: SkillConfig) -> list[ConfigIssue] | None:
    """Check the ``model`` and ``options`` of a skill that runs on one of your backends.

    Called for every skill of a swarm when it loads, only on the plugin whose registration
    of ``backend`` is in use. Return a :class:`ConfigIssue` per problem, its ``path`` taken
    from the top of the skill file (``("options", "temprature")``); an empty list or
    ``None`` when all is well.
    """


@hookspec
def check_judge_options(policy: str, options: Mapping[str, JsonValue]) -> list[ConfigIssue] | None:
    """Check the ``judge.options`` that one of your policies will be given.

    Called when a swarm loads, once per policy and place in swarm.yaml where options that
    reach it are written, only on the plugin whose registration of ``policy`` is in use.
    ``options`` is ``{}`` when none are set. Return a :class:`ConfigIssue` per problem, its
    ``path`` taken from the ``options`` mapping (``("max_chars",)``).
    """


@hookspec
def chimera_after_decision(decision: Decision) -> None:
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
