"""The LLM backend port: a rendered prompt in, structured output and confidence out."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from chimera.models.llm import LLMRequest, LLMResponse
from chimera.models.result import ErrorKind


class BackendError(Exception):
    """A backend call failed; ``kind`` tells the Worker whether to retry.

    Attributes:
        kind: ``TIMEOUT``, ``BACKEND`` and ``RATE_LIMIT`` are retried; the rest are not.
        retry_after_s: the backend's own hint of when to try again, if it gave one.
    """

    def __init__(
        self, message: str, kind: ErrorKind = ErrorKind.BACKEND, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after_s = retry_after_s


@runtime_checkable
class LLMBackend(Protocol):
    """Something that answers prompts: the mock, OpenAI, vLLM, a local model.

    ``complete`` is ``async``: a Worker holds hundreds of calls in flight on one event loop,
    so an implementation must never block it (use an async HTTP client, or a thread for
    blocking SDKs). The Worker enforces the skill's timeout around the call.
    """

    name: str

    async def complete(self, request: LLMRequest) -> LLMResponse:
        """Answer one request.

        Raises:
            BackendError: the call failed; its ``kind`` decides retry or not.
        """
        ...
