"""Chat-completions answers as servers send them, and a scripted fake on httpx.MockTransport."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

API_KEY = "sk-test-0123456789abcdefSECRET"
BASE_URL = "http://llm.test/v1"
URL = f"{BASE_URL}/chat/completions"

Handler = Callable[[httpx.Request], httpx.Response]


def completion(
    content: str | None = '{"answer": "4"}',
    *,
    logprobs: list[float] | None = None,
    usage: dict[str, Any] | None = None,
    finish_reason: str = "stop",
    message: dict[str, Any] | None = None,
    model: str = "test-model",
) -> dict[str, Any]:
    """A chat-completions body as OpenAI sends it."""
    choice: dict[str, Any] = {
        "index": 0,
        "message": message if message is not None else {"role": "assistant", "content": content},
        "finish_reason": finish_reason,
    }
    if logprobs is not None:
        choice["logprobs"] = {
            "content": [
                {"token": f"t{i}", "logprob": lp, "bytes": [], "top_logprobs": []}
                for i, lp in enumerate(logprobs)
            ]
        }
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [choice],
        "usage": usage
        if usage is not None
        else {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
    }


def tool_calls_answer(*calls: tuple[str, str, str], content: str | None = None) -> dict[str, Any]:
    """An answer asking for tool calls: ``(id, name, arguments as JSON text)`` each."""
    message = {
        "role": "assistant",
        "content": content,
        "tool_calls": [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}
            for call_id, name, args in calls
        ],
    }
    return completion(message=message, finish_reason="tool_calls")


class FakeServer:
    """Answers each POST with the next scripted reply and keeps what it was sent."""

    def __init__(self, *replies: httpx.Response | Handler | Exception) -> None:
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if isinstance(reply, Exception):
            raise reply
        if callable(reply):
            return reply(request)
        return reply

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]


def ok(body: dict[str, Any] | None = None) -> httpx.Response:
    return httpx.Response(200, json=body if body is not None else completion())


def error(status: int, message: str = "boom", **headers: str) -> httpx.Response:
    return httpx.Response(
        status, json={"error": {"message": message, "type": "x"}}, headers=headers
    )


class Sleeps:
    """A recording stand-in for ``asyncio.sleep``."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
