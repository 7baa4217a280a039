"""chimera plugin: the ``openai`` LLM backend, for any OpenAI-compatible chat-completions API.

Installed, it registers the backend ``openai`` through chimera's ``register_backends`` hook
(entry point ``openai`` in the group ``chimera``). Skills use it with ``backend: openai``
and ``model: <name>``; the server and key come from ``CHIMERA_OPENAI_*`` variables (see
:class:`~chimera_swarm_openai.settings.OpenAISettings`).

This module stays light: chimera imports it whenever it lists plugins, so ``httpx`` and the
backend are imported only when a swarm actually builds the backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chimera.plugins import hookimpl
from chimera.plugins.context import PluginContext
from chimera.plugins.hookspecs import Register

if TYPE_CHECKING:
    from chimera_swarm_openai.backend import OpenAIBackend
    from chimera_swarm_openai.settings import OpenAISettings

__all__ = ["OpenAIBackend", "OpenAISettings", "make_backend", "register_backends"]


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
def register_backends(register: Register) -> None:
    """Register the ``openai`` backend."""
    register("openai", make_backend)


def __getattr__(name: str) -> Any:
    """Import ``OpenAIBackend`` and ``OpenAISettings`` on first use."""
    if name == "OpenAIBackend":
        from chimera_swarm_openai.backend import OpenAIBackend

        return OpenAIBackend
    if name == "OpenAISettings":
        from chimera_swarm_openai.settings import OpenAISettings

        return OpenAISettings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
