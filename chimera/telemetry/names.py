"""Every span name, span attribute and metric name chimera emits, in one place.

Span and attribute names follow the OpenTelemetry semantic conventions where one exists:
messaging (``messaging.*``: the task and result streams), GenAI (``gen_ai.*``: LLM and
tool calls) and the general ``error.type``. What the conventions do not cover is named
``chimera.*``. Metric names follow Prometheus practice: ``chimera_`` prefix, base units
(``_seconds``), ``_total`` for counters, and labels of bounded cardinality only (tenant,
skill, model, tool; never a task, session or trace id).
"""

from __future__ import annotations

# -- tracer ------------------------------------------------------------------------------

#: Instrumentation scope of every chimera span.
TRACER_NAME = "chimera"

# -- span names --------------------------------------------------------------------------

#: PRODUCER span of one task entering its tenant's task stream (``chimera submit``, run).
SPAN_SEND_TASK = "send tasks"
#: CONSUMER span of one task's attempt in a Worker, from entry to settlement.
SPAN_PROCESS_TASK = "process tasks"
#: CONSUMER span of the Judge evaluating one Result.
SPAN_PROCESS_RESULT = "process results"
#: Span of the Judge's atomic commit of one decision.
SPAN_COMMIT = "commit"
#: Prefix of an LLM call's span: ``chat {model}`` (GenAI conventions).
SPAN_CHAT = "chat"
#: Prefix of a tool call's span: ``execute_tool {tool}`` (GenAI conventions).
SPAN_EXECUTE_TOOL = "execute_tool"

# -- messaging attributes ----------------------------------------------------------------

MESSAGING_SYSTEM = "messaging.system"
MESSAGING_SYSTEM_REDIS = "redis"
MESSAGING_DESTINATION = "messaging.destination.name"
MESSAGING_DESTINATION_TEMPLATE = "messaging.destination.template"
MESSAGING_MESSAGE_ID = "messaging.message.id"
MESSAGING_OPERATION_TYPE = "messaging.operation.type"
MESSAGING_OPERATION_NAME = "messaging.operation.name"
MESSAGING_CONSUMER_GROUP = "messaging.consumer.group.name"
MESSAGING_CLIENT_ID = "messaging.client.id"
MESSAGING_DELIVERY_COUNT = "messaging.redis.delivery_count"

OPERATION_SEND = "send"
OPERATION_PROCESS = "process"

# -- GenAI attributes ----------------------------------------------------------------------

GEN_AI_OPERATION = "gen_ai.operation.name"
GEN_AI_OPERATION_CHAT = "chat"
GEN_AI_OPERATION_TOOL = "execute_tool"
GEN_AI_PROVIDER = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_TOOL_NAME = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID = "gen_ai.tool.call.id"
GEN_AI_TOOL_TYPE = "gen_ai.tool.type"
#: Opt-in content (``capture_content``): the conversation sent, the answer, tool I/O.
GEN_AI_INPUT_MESSAGES = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES = "gen_ai.output.messages"
GEN_AI_TOOL_ARGUMENTS = "gen_ai.tool.call.arguments"
GEN_AI_TOOL_RESULT = "gen_ai.tool.call.result"

ERROR_TYPE = "error.type"

# -- chimera attributes --------------------------------------------------------------------

TENANT = "chimera.tenant"
SESSION = "chimera.session"
TASK_ID = "chimera.task.id"
SKILL = "chimera.skill"
ATTEMPT = "chimera.task.attempt"
#: What a Worker's attempt came to: ``publish``, ``retry`` or ``dead_letter``.
SETTLEMENT = "chimera.settlement"
STEP = "chimera.agent.step"
TOOL_SERVER = "chimera.tool.server"
CONFIDENCE_SOURCE = "chimera.confidence.source"
VERDICT = "chimera.judge.verdict"
CONFIDENCE = "chimera.judge.confidence"
POLICY = "chimera.judge.policy"
REASON = "chimera.judge.reason"
#: What the commit did: committed, denied, review, retried, duplicate, rejected.
COMMIT_OUTCOME = "chimera.commit.outcome"

# -- metric names --------------------------------------------------------------------------

METRIC_TASKS = "chimera_tasks"  # prometheus_client adds ``_total`` to counters
METRIC_TASK_SECONDS = "chimera_task_duration_seconds"
METRIC_LLM_SECONDS = "chimera_llm_call_duration_seconds"
METRIC_LLM_CALLS = "chimera_llm_calls"
METRIC_TOKENS = "chimera_llm_tokens"
METRIC_TOOL_CALLS = "chimera_tool_calls"
METRIC_TOOL_SECONDS = "chimera_tool_call_duration_seconds"
METRIC_VERDICTS = "chimera_judge_verdicts"
METRIC_RETRIES = "chimera_retries"
METRIC_IN_FLIGHT = "chimera_tasks_in_flight"
METRIC_STREAM_LAG = "chimera_stream_lag"
METRIC_STREAM_PENDING = "chimera_stream_pending"
METRIC_STREAM_LENGTH = "chimera_stream_length"
METRIC_REVIEW_BACKLOG = "chimera_review_backlog"
METRIC_DLQ_BACKLOG = "chimera_dead_letter_backlog"
METRIC_DELAYED = "chimera_delayed_tasks"
METRIC_QUEUE_READABLE = "chimera_queue_stats_readable"
METRIC_THROTTLED = "chimera_tenant_throttled"
METRIC_TOKENS_TODAY = "chimera_tenant_tokens_today"
METRIC_QUOTA_THROTTLES = "chimera_quota_throttles"


def stream_name(tenant: str, stream: str) -> str:
    """The logical name of a tenant's stream in spans: ``{acme}:tasks``.

    The key without its configurable prefix: readable, and the same across deployments.
    """
    return f"{{{tenant}}}:{stream}"


def chat_span_name(model: str | None) -> str:
    """``chat {model}``, or ``chat`` when the skill leaves the model to the backend."""
    return f"{SPAN_CHAT} {model}" if model else SPAN_CHAT


def tool_span_name(tool: str) -> str:
    """``execute_tool {tool}``."""
    return f"{SPAN_EXECUTE_TOOL} {tool}"
