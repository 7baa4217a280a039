"""Convenience re-exports: ``build_registry`` and ``Registry``."""

from chimera.plugins.manager import Registry, build_registry

__all__ = ["Registry", "build_registry"]
