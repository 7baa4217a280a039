"""chimera: observable, multi-tenant agent swarms declared in YAML.

This module is chimera's public API: what plugin packages and applications import. Names are
resolved on first use (PEP 562), so ``import chimera`` and ``chimera --help`` stay fast; type
checkers see them through the imports below. Everything else under ``chimera.`` is internal
and may change between releases, except :mod:`chimera.testing` (builders, fakes and
conformance suites for tests).

Groups:

- models: ``Task``, ``Result``, ``Decision``, ``AuditEvent``, the LLM conversation
  (``LLMRequest``, ``Message``, ``ToolCall``, ``ToolSpec``, ``LLMResponse``) and config models;
- ports: ``LLMBackend`` (with ``BackendError`` and ``ErrorKind``), ``JudgePolicy`` and
  ``PolicyInput``, ``AuditSink``, ``Toolbox``;
- plugins: ``hookimpl``, ``PluginContext``, the registrars and factories, ``ConfigIssue``,
  ``PluginError``;
- configuration: ``load_swarm``, ``Swarm``, ``Skill``, ``ConfigError``, ``Problem``,
  ``SourceMap``;
- applications: ``Client`` (submit, follow, cancel and review tasks from Python), with
  ``Outcome``, ``TaskState``, ``Submission``, ``Cancelled``, ``HumanDecision`` and the
  errors a request can meet (``RequestError`` and its kinds: ``PlanningError``,
  ``QuotaExceeded``, ``UnknownTenant``, ``NoSuchSession``, ``NothingToCancel``,
  ``ReviewNotFound``, ``RetryRefused``);
- helpers: ``decide_by_thresholds`` (the threshold policy's bands), ``get_logger``.
"""

from __future__ import annotations

import importlib

# Not ``typing.TYPE_CHECKING``: importing ``typing`` would double what ``import chimera``
# costs. Type checkers treat any constant of this name as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from chimera.client.client import Client
    from chimera.config.errors import ConfigError, Problem
    from chimera.config.loader import KnownNames, load_swarm
    from chimera.config.swarm import Skill, Swarm
    from chimera.config.yaml_source import SourceMap
    from chimera.lib.logging import get_logger
    from chimera.models.audit import (
        GENESIS_HASH,
        AuditEvent,
        AuditEventType,
        AuditRecord,
        ChainCheck,
        link_problem,
    )
    from chimera.models.config import ResolvedJudge, SkillConfig, SwarmConfig
    from chimera.models.decision import Decision, Verdict
    from chimera.models.llm import (
        ConfidenceSource,
        LLMRequest,
        LLMResponse,
        Message,
        Role,
        ToolCall,
        ToolSpec,
    )
    from chimera.models.result import ErrorKind, Result, ResultStatus, Usage
    from chimera.models.task import Task
    from chimera.models.thresholds import Thresholds
    from chimera.models.types import JsonObject, JsonValue
    from chimera.plugins.context import PluginContext
    from chimera.plugins.contracts import PluginError
    from chimera.plugins.hookspecs import hookimpl
    from chimera.plugins.registrars import (
        BackendFactory,
        BackendRegistrar,
        ConfigIssue,
        PolicyFactory,
        PolicyRegistrar,
        SinkFactory,
        SinkRegistrar,
    )
    from chimera.ports.judge import AuditSink, JudgePolicy, PolicyInput
    from chimera.ports.llm import BackendError, LLMBackend
    from chimera.ports.stores import TaskState
    from chimera.ports.tools import ToolBinding, Toolbox, ToolResult, ToolUnavailable
    from chimera.services.cancel import Cancelled, NothingToCancel
    from chimera.services.errors import RequestError
    from chimera.services.judge_policy import decide_by_thresholds
    from chimera.services.outcomes import Outcome
    from chimera.services.planner import PlanningError, QuotaExceeded, Submission
    from chimera.services.review import HumanDecision, RetryRefused, ReviewNotFound
    from chimera.services.sessions import NoSuchSession
    from chimera.services.tenants import UnknownTenant

#: Where each public name lives.
_EXPORTS: dict[str, str] = {
    "Cancelled": "chimera.services.cancel",
    "Client": "chimera.client.client",
    "HumanDecision": "chimera.services.review",
    "NoSuchSession": "chimera.services.sessions",
    "NothingToCancel": "chimera.services.cancel",
    "Outcome": "chimera.services.outcomes",
    "PlanningError": "chimera.services.planner",
    "QuotaExceeded": "chimera.services.planner",
    "RequestError": "chimera.services.errors",
    "RetryRefused": "chimera.services.review",
    "ReviewNotFound": "chimera.services.review",
    "Submission": "chimera.services.planner",
    "TaskState": "chimera.ports.stores",
    "UnknownTenant": "chimera.services.tenants",
    "AuditEvent": "chimera.models.audit",
    "AuditEventType": "chimera.models.audit",
    "AuditRecord": "chimera.models.audit",
    "AuditSink": "chimera.ports.judge",
    "BackendError": "chimera.ports.llm",
    "BackendFactory": "chimera.plugins.registrars",
    "BackendRegistrar": "chimera.plugins.registrars",
    "ChainCheck": "chimera.models.audit",
    "ConfidenceSource": "chimera.models.llm",
    "ConfigError": "chimera.config.errors",
    "ConfigIssue": "chimera.plugins.registrars",
    "decide_by_thresholds": "chimera.services.judge_policy",
    "Decision": "chimera.models.decision",
    "ErrorKind": "chimera.models.result",
    "GENESIS_HASH": "chimera.models.audit",
    "get_logger": "chimera.lib.logging",
    "hookimpl": "chimera.plugins.hookspecs",
    "JsonObject": "chimera.models.types",
    "JsonValue": "chimera.models.types",
    "JudgePolicy": "chimera.ports.judge",
    "KnownNames": "chimera.config.loader",
    "link_problem": "chimera.models.audit",
    "LLMBackend": "chimera.ports.llm",
    "LLMRequest": "chimera.models.llm",
    "LLMResponse": "chimera.models.llm",
    "load_swarm": "chimera.config.loader",
    "Message": "chimera.models.llm",
    "PluginContext": "chimera.plugins.context",
    "PluginError": "chimera.plugins.contracts",
    "PolicyFactory": "chimera.plugins.registrars",
    "PolicyInput": "chimera.ports.judge",
    "PolicyRegistrar": "chimera.plugins.registrars",
    "Problem": "chimera.config.errors",
    "ResolvedJudge": "chimera.models.config",
    "Result": "chimera.models.result",
    "ResultStatus": "chimera.models.result",
    "Role": "chimera.models.llm",
    "SinkFactory": "chimera.plugins.registrars",
    "SinkRegistrar": "chimera.plugins.registrars",
    "Skill": "chimera.config.swarm",
    "SkillConfig": "chimera.models.config",
    "SourceMap": "chimera.config.yaml_source",
    "Swarm": "chimera.config.swarm",
    "SwarmConfig": "chimera.models.config",
    "Task": "chimera.models.task",
    "Thresholds": "chimera.models.thresholds",
    "ToolBinding": "chimera.ports.tools",
    "Toolbox": "chimera.ports.tools",
    "ToolCall": "chimera.models.llm",
    "ToolResult": "chimera.ports.tools",
    "ToolSpec": "chimera.models.llm",
    "ToolUnavailable": "chimera.ports.tools",
    "Usage": "chimera.models.result",
    "Verdict": "chimera.models.decision",
}

__all__ = [
    "GENESIS_HASH",
    "AuditEvent",
    "AuditEventType",
    "AuditRecord",
    "AuditSink",
    "BackendError",
    "BackendFactory",
    "BackendRegistrar",
    "Cancelled",
    "ChainCheck",
    "Client",
    "ConfidenceSource",
    "ConfigError",
    "ConfigIssue",
    "Decision",
    "ErrorKind",
    "HumanDecision",
    "JsonObject",
    "JsonValue",
    "JudgePolicy",
    "KnownNames",
    "LLMBackend",
    "LLMRequest",
    "LLMResponse",
    "Message",
    "NoSuchSession",
    "NothingToCancel",
    "Outcome",
    "PlanningError",
    "PluginContext",
    "PluginError",
    "PolicyFactory",
    "PolicyInput",
    "PolicyRegistrar",
    "Problem",
    "QuotaExceeded",
    "RequestError",
    "ResolvedJudge",
    "Result",
    "ResultStatus",
    "RetryRefused",
    "ReviewNotFound",
    "Role",
    "SinkFactory",
    "SinkRegistrar",
    "Skill",
    "SkillConfig",
    "SourceMap",
    "Submission",
    "Swarm",
    "SwarmConfig",
    "Task",
    "TaskState",
    "Thresholds",
    "ToolBinding",
    "ToolCall",
    "ToolResult",
    "ToolSpec",
    "ToolUnavailable",
    "Toolbox",
    "UnknownTenant",
    "Usage",
    "Verdict",
    "decide_by_thresholds",
    "get_logger",
    "hookimpl",
    "link_problem",
    "load_swarm",
]


if not TYPE_CHECKING:  # hidden from type checkers, so a misspelt name is an error there

    def __getattr__(name: str) -> object:
        module = _EXPORTS.get(name)
        if module is None:
            raise AttributeError(f"module 'chimera' has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value  # later look-ups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(__all__)
