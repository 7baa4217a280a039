"""Plugin system: pluggy hookspecs, the plugin manager factory and the built-in plugins."""

from chimera.plugins.hookspecs import hookimpl, hookspec

__all__ = ["hookimpl", "hookspec"]
