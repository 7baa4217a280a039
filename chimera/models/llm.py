"""What goes into and comes out of an LLM backend call: a conversation, tools, an answer.

A skill is an agent: the Worker sends the conversation so far (system and user messages,
then the assistant's earlier tool calls and the tools' results) with the definitions of
the tools the skill may use; the backend answers either with tool calls or with the final
structured output. The loop itself lives in the Worker, not in each backend.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chimera.models.result import Usage
from chimera.models.types import JsonObject, JsonValue


class Role(StrEnum):
    """Who said a message."""

    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


class ToolCall(BaseModel):
    """A call the model asks for: which tool, with which arguments.

    ``id`` is the backend's own id for the call (OpenAI's ``call_…``); the tool's result
    message names it so the model can match answers to calls made in parallel.

    A model sometimes writes arguments that are not a JSON object (cut short, a stray
    quote). The backend then sets ``arguments_error`` (why) and ``raw_arguments`` (the text
    as written) and leaves ``arguments`` empty: the Worker does not call the tool but
    answers the call with that error, so the model can correct itself on the next step.
    A backend sending the conversation back sends ``raw_arguments`` as written.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=200)
    name: str = Field(min_length=1, max_length=200)
    arguments: JsonObject = Field(default_factory=dict)
    arguments_error: str | None = Field(default=None, max_length=2000)
    raw_arguments: str | None = None


class Message(BaseModel):
    """One turn of the conversation.

    ``assistant`` messages may carry ``tool_calls`` instead of text; ``tool`` messages answer
    one call (``tool_call_id``) with the tool's text, and ``is_error`` when the tool failed
    (the model sees the error and may try something else).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Role
    content: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_call_id: str | None = None
    name: str | None = None
    is_error: bool = False

    @model_validator(mode="after")
    def _shape_fits_role(self) -> Message:
        if self.tool_calls and self.role is not Role.ASSISTANT:
            raise ValueError("only assistant messages carry tool calls")
        if self.role is Role.TOOL and not self.tool_call_id:
            raise ValueError("a tool message must name the call it answers (tool_call_id)")
        return self

    @classmethod
    def system(cls, text: str) -> Message:
        """A system message."""
        return cls(role=Role.SYSTEM, content=text)

    @classmethod
    def user(cls, text: str) -> Message:
        """A user message."""
        return cls(role=Role.USER, content=text)


def _object_schema() -> dict[str, JsonValue]:
    return {"type": "object"}


class ToolSpec(BaseModel):
    """A tool the model may call: its name, what it does, the JSON Schema of its arguments.

    The schema is the MCP tool's ``inputSchema`` as the server published it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    input_schema: dict[str, JsonValue] = Field(default_factory=_object_schema)


class LLMRequest(BaseModel):
    """One step of a skill's conversation, and what the backend needs to answer it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    skill: str
    messages: list[Message] = Field(min_length=1)
    output_schema: dict[str, JsonValue]
    tools: list[ToolSpec] = Field(default_factory=list)
    model: str | None = None
    options: dict[str, JsonValue] = Field(default_factory=dict)
    input: JsonObject = Field(default_factory=dict)
    attempt: int = Field(default=1, ge=1)
    step: int = Field(default=1, ge=1)

    @property
    def prompt(self) -> str:
        """The rendered prompt: the text of the first user message."""
        for message in self.messages:
            if message.role is Role.USER and message.content is not None:
                return message.content
        return ""


class ConfidenceSource(StrEnum):
    """Where a Result's confidence came from, so a reader knows how much it means."""

    LOGPROBS = "logprobs"
    REPORTED = "reported"
    MOCK = "mock"
    DEFAULT = "default"


class LLMResponse(BaseModel):
    """A backend's answer: tool calls to make, or the final structured output.

    ``confidence`` is ``None`` when the backend cannot tell; the Worker then uses the
    skill's configured default (and records ``confidence_source: default``). ``raw`` is
    the model's answer as text, kept (bounded) for the task's history.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    output: JsonObject | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    confidence_source: ConfidenceSource | None = None
    usage: Usage = Field(default_factory=Usage)
    model: str | None = None
    raw: str | None = None

    @model_validator(mode="after")
    def _answer_or_calls(self) -> LLMResponse:
        if (self.output is None) == (not self.tool_calls):
            raise ValueError("a response carries either an output or tool calls, not both")
        return self


#: Largest conversation a paused task may carry (its JSON), so a parked tool call and its
#: resumed task stay reasonable entries of a stream.
MAX_PAUSE_BYTES = 1024 * 1024


class PausedConversation(BaseModel):
    """A skill's conversation stopped at tool calls a human must approve first.

    Kept with the review item while it waits, and carried by the task that resumes it
    (``Task.resume``), so any Worker can go on from where the first one stopped.

    Attributes:
        messages: the conversation so far, up to the assistant's message with the calls.
        calls: the calls that wait (every call of that step: they run together).
        steps: LLM steps already taken (``max_steps`` counts on from here).
        usage: tokens used so far.
        approved: the human's answer (``None`` while it waits).
        note: the reviewer's note, or the reason of a refusal (the model sees it).
        by: who decided (``human:<actor>``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    messages: list[Message] = Field(min_length=1)
    calls: list[ToolCall] = Field(min_length=1)
    steps: int = Field(ge=1)
    usage: Usage = Field(default_factory=Usage)
    approved: bool | None = None
    note: str | None = Field(default=None, max_length=16_384)
    by: str | None = Field(default=None, max_length=256)

    @model_validator(mode="after")
    def _bounded(self) -> PausedConversation:
        size = len(self.model_dump_json())
        if size > MAX_PAUSE_BYTES:
            raise ValueError(
                f"a paused conversation of {size} bytes; the limit is {MAX_PAUSE_BYTES}"
            )
        return self
