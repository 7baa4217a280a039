"""Configuration models: a skill file and ``swarm.yaml``, as validated by the loader.

These models check one file's shape. Checks that need several files at once (a tenant's
skills exist, a job's input fits its skill) live in :mod:`chimera.config.loader`.
"""

from __future__ import annotations

import math
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chimera.models.mcp_config import (
    DEFAULT_MAX_STEPS,
    McpServerConfig,
    ServerName,
    TenantMcpOverride,
    ToolRefText,
)
from chimera.models.pipeline import PipelineConfig, PipelineName
from chimera.models.retention import RetentionConfig
from chimera.models.thresholds import Thresholds
from chimera.models.types import JsonObject, JsonValue, SessionId, SkillName, TenantId


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RetryConfig(_Strict):
    """How often and how patiently a failing task is tried again."""

    max_attempts: int = Field(default=3, ge=1, le=100, description="Attempts before dead-letter.")
    backoff_base_s: float = Field(default=0.5, gt=0, description="Delay before the 2nd attempt.")
    backoff_max_s: float = Field(default=60.0, gt=0, description="Cap on any single delay.")
    jitter: float = Field(default=0.2, ge=0, le=1, description="Random spread, as a fraction.")


class MockToolCall(_Strict):
    """One tool call the ``mock`` backend makes, for offline demos and tests of tool loops."""

    tool: str = Field(min_length=1, description="The tool's name as the skill lists it.")
    arguments: dict[str, JsonValue] = Field(
        default_factory=dict,
        description="Arguments; a string may be a template over the task's input "
        "(exactly '{{ name }}' passes the value itself, not its text).",
    )


class MockConfig(_Strict):
    """Behaviour of the built-in ``mock`` backend for one skill."""

    output: JsonObject | None = Field(
        default=None, description="Fixed output; generated from output_schema when absent."
    )
    confidence: float | None = Field(
        default=None, ge=0, le=1, description="Fixed confidence; hashed from the input if absent."
    )
    latency_ms: float = Field(default=0.0, ge=0, description="Simulated call latency.")
    latency_jitter_ms: float = Field(default=0.0, ge=0, description="Uniform extra latency.")
    failure_rate: float = Field(default=0.0, ge=0, le=1, description="Share of calls that fail.")
    crash_process: bool = Field(
        default=False,
        description="Kill the whole worker process on every call: a poison task, for tests.",
    )
    tool_calls: list[list[MockToolCall]] = Field(
        default_factory=list,
        description="Tool calls the mock makes before its final answer: one list per step "
        "(calls in one list are made at once). Argument strings are templates over the input.",
    )


class SkillConfig(_Strict):
    """One skill file: a prompt template with typed input and output."""

    name: SkillName
    version: str = "1"
    description: str = ""
    backend: str = Field(default="mock", description="Registered LLM backend name.")
    model: str | None = None
    prompt: str = Field(min_length=1, description="Jinja2 template; input fields are variables.")
    input_schema: dict[str, JsonValue] = Field(description="JSON Schema of a task's input.")
    output_schema: dict[str, JsonValue] = Field(description="JSON Schema of the output.")
    timeout_s: float = Field(default=60.0, gt=0, le=3600)
    retry: RetryConfig = Field(default_factory=RetryConfig)
    sensitive: bool = Field(default=False, description="Always sent to human review.")
    default_confidence: float = Field(
        default=0.5, ge=0, le=1, description="Used when the backend reports no confidence."
    )
    options: dict[str, JsonValue] = Field(
        default_factory=dict, description="Passed to the backend as is (temperature, ...)."
    )
    mock: MockConfig = Field(default_factory=MockConfig)
    tools: list[ToolRefText] = Field(
        default_factory=list,
        description="MCP tools the agent may call: 'server.tool', or 'server.*' for every "
        "tool the server allows.",
    )
    max_steps: int = Field(
        default=DEFAULT_MAX_STEPS,
        ge=1,
        le=100,
        description="Most LLM steps (answers with tool calls, then the final one) per attempt.",
    )


class JudgeSettings(_Strict):
    """Judge settings at one level (swarm, tenant, skill); unset fields inherit.

    That ``review_at <= approve_at`` is checked after merging the levels (by the loader),
    since a tenant may lower one threshold and inherit the other.
    """

    policy: str | None = Field(default=None, description="Registered Judge policy name.")
    approve_at: float | None = Field(default=None, ge=0, le=1)
    review_at: float | None = Field(default=None, ge=0, le=1)
    on_deny: Literal["deny", "retry"] | None = Field(
        default=None, description="Deny for good, or retry with the Judge's reason as feedback."
    )
    options: dict[str, JsonValue] | None = None


class JudgeConfig(JudgeSettings):
    """Swarm-wide Judge settings, with per-skill overrides."""

    policy: str | None = "threshold"
    approve_at: float | None = Field(default=0.8, ge=0, le=1)
    review_at: float | None = Field(default=0.5, ge=0, le=1)
    on_deny: Literal["deny", "retry"] | None = "deny"
    skills: dict[SkillName, JudgeSettings] = Field(default_factory=dict)


class TenantJudgeConfig(JudgeSettings):
    """A tenant's Judge overrides, with per-skill overrides for that tenant."""

    skills: dict[SkillName, JudgeSettings] = Field(default_factory=dict)


class QuotaConfig(_Strict):
    """How much one tenant may use; every limit is optional and shared by every Worker.

    Over ``max_in_flight`` or ``rate_per_s`` the tenant's tasks wait in its stream (they are
    not failed) and other tenants are not slowed; over a token budget new submissions are
    refused, while tasks already submitted still run.
    """

    max_in_flight: int | None = Field(
        default=None, ge=1, description="Most of the tenant's tasks running at once, all Workers."
    )
    rate_per_s: float | None = Field(
        default=None, gt=0, description="Tasks started per second (a token bucket in Redis)."
    )
    burst: int | None = Field(
        default=None,
        ge=1,
        description="Tasks that may start at once after a quiet spell (default: rate_per_s, "
        "at least 1).",
    )
    tokens_per_day: int | None = Field(
        default=None, ge=1, description="LLM tokens a UTC day; past it, submissions are refused."
    )
    tokens_per_session: int | None = Field(
        default=None, ge=1, description="LLM tokens per session; past it, that session is closed."
    )

    @model_validator(mode="after")
    def _burst_needs_a_rate(self) -> Self:
        if self.burst is not None and self.rate_per_s is None:
            raise ValueError("burst needs rate_per_s")
        return self

    @property
    def bucket_size(self) -> int:
        """The token bucket's size: ``burst``, else the rate rounded up (at least 1)."""
        if self.burst is not None:
            return self.burst
        return max(1, math.ceil(self.rate_per_s or 1))


class TenantConfig(_Strict):
    """A tenant: the skills it may run, its Judge overrides and its quotas."""

    skills: list[SkillName] = Field(min_length=1)
    judge: TenantJudgeConfig = Field(default_factory=TenantJudgeConfig)
    mcp_servers: dict[ServerName, TenantMcpOverride] = Field(
        default_factory=dict,
        description="This tenant's own env (stdio) or headers (HTTP) per MCP server.",
    )
    quotas: QuotaConfig = Field(
        default_factory=QuotaConfig, description="Limits on what this tenant may use."
    )


class AuditConfig(_Strict):
    """Where audit events go; every sink must accept an event before anything commits."""

    sinks: list[str] = Field(default_factory=lambda: ["log", "redis"])
    log_level: Literal["debug", "info"] = Field(
        default="debug",
        description="Level of the `log` sink's lines: `debug` (the default) keeps a busy "
        "worker's log to what needs attention; `info` writes every audit event at INFO.",
    )


class JobConfig(_Strict):
    """A task (or, with ``pipeline``, a pipeline run) that ``chimera run`` submits."""

    tenant: TenantId
    skill: SkillName | None = Field(default=None, description="The skill to run.")
    pipeline: PipelineName | None = Field(
        default=None, description="The pipeline to run instead of a skill."
    )
    input: JsonObject
    session: SessionId | None = None
    repeat: int = Field(default=1, ge=1, le=100_000, description="Submit this many copies.")

    @model_validator(mode="after")
    def _names_one_thing(self) -> Self:
        if (self.skill is None) == (self.pipeline is None):
            raise ValueError("a job names either a skill or a pipeline (exactly one of them)")
        return self


class TracingConfig(_Strict):
    """OpenTelemetry tracing of this swarm's processes (exporter set by ``OTEL_*`` variables)."""

    enabled: bool = Field(
        default=False, description="Trace every process of this swarm (--trace/--no-trace wins)."
    )
    sample_ratio: float = Field(
        default=1.0,
        ge=0,
        le=1,
        description="Share of tasks traced, decided at submit; OTEL_TRACES_SAMPLER wins.",
    )
    capture_content: bool = Field(
        default=False,
        description="Record prompts, answers and tool arguments/results on spans (may hold "
        "personal data).",
    )


class TelemetryConfig(_Strict):
    """Observability settings of the swarm."""

    tracing: TracingConfig = Field(default_factory=TracingConfig)


class ModelPrice(_Strict):
    """What one model costs, per million tokens."""

    input: float = Field(ge=0, description="Price of a million input (prompt) tokens.")
    output: float = Field(ge=0, description="Price of a million output (completion) tokens.")


class PricingConfig(_Strict):
    """Prices of the models the skills name, for the cost column of ``chimera run``."""

    currency: str = Field(default="USD", min_length=1, max_length=16)
    models: dict[str, ModelPrice] = Field(
        default_factory=dict, description="Per model a skill names in `model:`."
    )


class SwarmConfig(_Strict):
    """``swarm.yaml``: tenants, skills, Judge policy and the demo jobs."""

    version: Literal[1] = 1
    name: str = "swarm"
    skills: list[str] = Field(min_length=1, description="Skill files or globs, relative.")
    tenants: dict[TenantId, TenantConfig] = Field(min_length=1)
    judge: JudgeConfig = Field(default_factory=JudgeConfig)
    audit: AuditConfig = Field(default_factory=AuditConfig)
    mcp_servers: dict[ServerName, McpServerConfig] = Field(
        default_factory=dict, description="MCP servers whose tools skills may call."
    )
    pipelines: dict[PipelineName, PipelineConfig] = Field(
        default_factory=dict, description="Skills chained into graphs of steps."
    )
    jobs: list[JobConfig] = Field(default_factory=list)
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)
    pricing: PricingConfig = Field(default_factory=PricingConfig)
    retention: RetentionConfig = Field(
        default_factory=RetentionConfig, description="What Redis keeps, and for how long."
    )


class ResolvedJudge(_Strict):
    """The Judge settings that apply to one tenant and skill, all levels merged."""

    policy: str
    thresholds: Thresholds
    on_deny: Literal["deny", "retry"]
    options: dict[str, JsonValue] = Field(default_factory=dict)
