"""The built-in plugins: the mock backend, the threshold policy, the log and Redis sinks.

They go through the same hooks as third-party plugins, so the plugin path is exercised on
every run. The objects' modules are imported inside the factories: listing plugins must
not import Redis adapters or services.
"""

from __future__ import annotations

from chimera.plugins.context import PluginContext
from chimera.plugins.hookspecs import hookimpl
from chimera.plugins.registrars import BackendRegistrar, PolicyRegistrar, SinkRegistrar
from chimera.ports.judge import AuditSink, JudgePolicy
from chimera.ports.llm import LLMBackend


def _mock(context: PluginContext) -> LLMBackend:
    from chimera.services.mock_backend import MockBackend

    skills = context.swarm.skills if context.swarm is not None else {}
    return MockBackend({name: skill.config.mock for name, skill in skills.items()})


def _threshold(context: PluginContext) -> JudgePolicy:
    from chimera.services.judge_policy import ThresholdPolicy

    return ThresholdPolicy()


def _log_sink(context: PluginContext) -> AuditSink:
    from chimera.services.audit import LogAuditSink

    level = context.swarm.config.audit.log_level if context.swarm is not None else "debug"
    return LogAuditSink(level)


def _redis_sink(context: PluginContext) -> AuditSink:
    from chimera.lib.redis_audit import RedisAuditSink

    if context.redis is None:
        raise RuntimeError("the redis audit sink needs a Redis connection")
    return RedisAuditSink(context.redis, context.keyspace)


@hookimpl
def register_backends(register: BackendRegistrar) -> None:
    """Register the offline ``mock`` backend; it plays the tool calls a skill scripts."""
    register("mock", _mock, tools=True)


@hookimpl
def register_policies(register: PolicyRegistrar) -> None:
    """Register the ``threshold`` policy (confidence bands)."""
    register("threshold", _threshold)


@hookimpl
def register_audit_sinks(register: SinkRegistrar) -> None:
    """Register the ``log`` (structlog) and ``redis`` (hash-chained stream) sinks."""
    register("log", _log_sink)
    register("redis", _redis_sink)
