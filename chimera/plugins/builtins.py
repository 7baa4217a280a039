"""The built-in plugins: the mock backend, the threshold policy, the log and Redis sinks.

They go through the same hooks as third-party plugins, so the plugin path is exercised on
every run.
"""

from __future__ import annotations

from typing import Any

from chimera.plugins.context import PluginContext
from chimera.plugins.hookspecs import Register, hookimpl


def _mock(context: PluginContext) -> Any:
    from chimera.services.mock_backend import MockBackend

    skills = context.swarm.skills if context.swarm is not None else {}
    return MockBackend({name: skill.config.mock for name, skill in skills.items()})


def _threshold(context: PluginContext) -> Any:
    from chimera.services.judge_policy import ThresholdPolicy

    return ThresholdPolicy()


def _log_sink(context: PluginContext) -> Any:
    from chimera.services.audit import LogAuditSink

    return LogAuditSink()


def _redis_sink(context: PluginContext) -> Any:
    from chimera.lib.redis_audit import RedisAuditSink

    if context.redis is None:
        raise RuntimeError("the redis audit sink needs a Redis connection")
    return RedisAuditSink(context.redis, context.keyspace)


@hookimpl
def register_backends(register: Register) -> None:
    """Register the offline ``mock`` backend."""
    register("mock", _mock)


@hookimpl
def register_policies(register: Register) -> None:
    """Register the ``threshold`` policy (confidence bands)."""
    register("threshold", _threshold)


@hookimpl
def register_audit_sinks(register: Register) -> None:
    """Register the ``log`` (structlog) and ``redis`` (hash-chained stream) sinks."""
    register("log", _log_sink)
    register("redis", _redis_sink)
