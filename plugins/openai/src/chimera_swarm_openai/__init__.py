"""chimera plugin: the ``openai`` LLM backend, for any OpenAI-compatible chat-completions API.

Installed, it registers the backend ``openai`` (with tool calling) through chimera's
``register_backends`` hook (entry point ``openai`` in the group ``chimera``), and checks the
``model`` and ``options`` of every skill on it when a swarm loads (``check_skill``). Skills
use it with ``backend: openai`` and ``model: <name>``; the server and key come from
``CHIMERA_OPENAI_*`` variables (see :class:`~chimera_swarm_openai.settings.OpenAISettings`).

This module stays light: chimera imports it whenever it lists plugins, so ``httpx`` and the
backend are imported only when a swarm actually builds the backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chimera import BackendRegistrar, ConfigIssue, PluginContext, SkillConfig, hookimpl
from chimera_swarm_openai.options import option_problems

if TYPE_CHECKING:
    from chimera_swarm_openai.backend import OpenAIBackend
    from chimera_swarm_openai.settings import OpenAISettings

__all__ = [
    "OpenAIBackend",
    "OpenAISettings",
    "check_skill",
    "make_backend",
    "register_backends",
]

#: The name skills write as ``backend:``.
BACKEND = "openai"


def make_backend(context: PluginContext) -> OpenAIBackend:
    """Build the backend from the ``CHIMERA_OPENAI_*`` environment variables.

    Args:
        context: what chimera shares with plugins; this backend needs none of it.

    Raises:
        ValueError: a variable holds a value of the wrong kind (the message names it).
    """
    from chimera_swarm_openai.backend import OpenAIBackend
    from chimera_swarm_openai.settings import OpenAISettings

    return OpenAIBackend(OpenAISettings.from_env())


@hookimpl
def register_backends(register: BackendRegistrar) -> None:
    """Register the ``openai`` backend; it calls tools OpenAI's way."""
    register(BACKEND, make_backend, tools=True)


@hookimpl
def check_skill(backend: str, skill: SkillConfig) -> list[ConfigIssue]:
    """Report a missing ``model`` and every unknown or ill-typed option of an openai skill."""
    if backend != BACKEND:
        return []
    issues: list[ConfigIssue] = []
    if not skill.model:
        issues.append(
            ConfigIssue(
                ("backend",),
                "backend 'openai' needs a model: add `model: <name>` to the skill "
                "(for example gpt-4o-mini, or the name your local server serves)",
            )
        )
    for problem in option_problems(skill.options):
        issues.append(ConfigIssue(("options", problem.name), problem.message, key=problem.unknown))
    return issues


def __getattr__(name: str) -> Any:
    """Import ``OpenAIBackend`` and ``OpenAISettings`` on first use."""
    if name == "OpenAIBackend":
        from chimera_swarm_openai.backend import OpenAIBackend

        return OpenAIBackend
    if name == "OpenAISettings":
        from chimera_swarm_openai.settings import OpenAISettings

        return OpenAISettings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
