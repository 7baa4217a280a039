"""Reading a chat-completions answer: tool calls, or the final JSON with its confidence.

Where the confidence came from is part of the answer (``confidence_source``): a number
from logprobs, a number the model wrote itself and a configured default mean very
different things to a reader of the task's history.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from chimera import (
    BackendError,
    ConfidenceSource,
    ErrorKind,
    LLMRequest,
    LLMResponse,
    ToolCall,
    Usage,
)
from chimera_swarm_openai.conversation import read_tool_calls
from chimera_swarm_openai.options import RequestOptions
from chimera_swarm_openai.parsing import (
    OutputError,
    logprob_confidence,
    message_text,
    parse_object,
    take_self_reported,
    token_count,
)

#: How much of the model's text is kept as ``raw`` for the task's history.
RAW_LIMIT = 16_000


@dataclass(frozen=True)
class Answer:
    """The response, and whether logprobs were asked for but did not come."""

    response: LLMResponse
    logprobs_missing: bool = False


def read_answer(
    payload: Any, request: LLMRequest, options: RequestOptions, default: float | None
) -> Answer:
    """Turn a 2xx body into an :class:`LLMResponse`.

    Args:
        payload: the parsed body.
        request: the request it answers.
        options: the skill's options.
        default: the backend's configured default confidence, if any.

    Raises:
        BackendError: ``backend`` when the body is not a chat completion;
            ``invalid_output`` when the model's text is not a JSON object, it refused, or
            a tool call names no function.
    """
    choices = payload.get("choices") if isinstance(payload, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise BackendError("the server's answer has no choices", ErrorKind.BACKEND)
    choice: dict[str, Any] = choices[0]
    message = choice.get("message")
    message = message if isinstance(message, dict) else {}
    text = message_text(message)
    usage = Usage(
        prompt_tokens=token_count(payload.get("usage"), "prompt_tokens"),
        completion_tokens=token_count(payload.get("usage"), "completion_tokens"),
    )
    model = payload.get("model") if isinstance(payload.get("model"), str) else None
    raw = text[:RAW_LIMIT] if text else None
    calls = read_tool_calls(message, request.step)
    if calls:
        return Answer(_build(tool_calls=calls, usage=usage, model=model, raw=raw))
    if text is None:
        refusal = message.get("refusal")
        reason = "the answer has no text content"
        if refusal:
            reason = f"the model refused: {str(refusal)[:300]}"
        raise BackendError(reason, ErrorKind.INVALID_OUTPUT)
    try:
        output = parse_object(text)
    except OutputError as exc:
        note = " (cut short at max_tokens)" if choice.get("finish_reason") == "length" else ""
        raise BackendError(f"{exc}{note}", ErrorKind.INVALID_OUTPUT) from None
    reported = take_self_reported(output, options.confidence_field, request.output_schema)
    from_logprobs = logprob_confidence(choice)
    confidence, source = _confidence(from_logprobs, reported, default)
    response = _build(
        output=output,
        confidence=confidence,
        confidence_source=source,
        usage=usage,
        model=model,
        raw=raw,
    )
    return Answer(response, logprobs_missing=options.logprobs and from_logprobs is None)


def _confidence(
    from_logprobs: float | None, reported: float | None, default: float | None
) -> tuple[float | None, ConfidenceSource | None]:
    """Logprobs first, then the model's own number, then the configured default, else none."""
    if from_logprobs is not None:
        return from_logprobs, ConfidenceSource.LOGPROBS
    if reported is not None:
        return reported, ConfidenceSource.REPORTED
    if default is not None:
        return default, ConfidenceSource.DEFAULT
    return None, None


def _build(
    *,
    output: dict[str, Any] | None = None,
    tool_calls: list[ToolCall] | None = None,
    **fields: Any,
) -> LLMResponse:
    try:
        return LLMResponse(output=output, tool_calls=tool_calls or [], **fields)
    except ValidationError as exc:
        problems = "; ".join(error["msg"] for error in exc.errors())
        raise BackendError(
            f"the answer is not a usable output: {problems}", ErrorKind.INVALID_OUTPUT
        ) from None
