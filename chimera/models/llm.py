"""What goes into and comes out of an LLM backend call."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from chimera.models.result import Usage
from chimera.models.types import JsonObject, JsonValue


class LLMRequest(BaseModel):
    """A rendered prompt plus what the backend needs to answer it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    skill: str
    prompt: str
    output_schema: dict[str, JsonValue]
    model: str | None = None
    options: dict[str, JsonValue] = Field(default_factory=dict)
    input: JsonObject = Field(default_factory=dict)
    attempt: int = Field(default=1, ge=1)


class LLMResponse(BaseModel):
    """A backend's answer: the structured output, how sure it is, what it cost.

    ``confidence`` is ``None`` when the backend cannot tell; the Worker then uses the
    skill's configured default.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    output: JsonObject
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    usage: Usage = Field(default_factory=Usage)
