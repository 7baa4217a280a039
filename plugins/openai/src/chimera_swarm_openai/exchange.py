"""One POST to the chat-completions endpoint, with in-process retries of what may pass later.

Answers sort into three: a 2xx body (returned), a refusal of the request itself (returned
as :class:`Refused`, never retried: see :mod:`chimera_swarm_openai.refusals`), and
transient failures (429, 5xx, 408, 409, timeouts, broken connections), retried here a
few times with ``Retry-After`` or jittered backoff and then raised as a ``BackendError``
the Worker retries on its own schedule.
"""

from __future__ import annotations

import random
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from chimera import BackendError, ErrorKind, get_logger
from chimera_swarm_openai.parsing import retry_after, server_message
from chimera_swarm_openai.refusals import request_invalid
from chimera_swarm_openai.settings import OpenAISettings

log = get_logger("chimera.openai")

#: Provider key shapes, masked in any server text we repeat (OpenAI echoes key fragments).
_KEY_SHAPE = re.compile(r"\b(sk|pk|rk)-[A-Za-z0-9_*.-]{4,}")

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class Target:
    """Where a call goes and with which key.

    Attributes:
        base_url: the API root (the key of what the server is remembered to accept).
        url: ``{base_url}/chat/completions``.
        api_key: sent as a bearer token when set.
        key_var: the variable to name when the key is refused.
    """

    base_url: str
    url: httpx.URL
    api_key: str | None
    key_var: str

    @property
    def where(self) -> str:
        """The URL without credentials or query: safe to put in messages and logs."""
        port = f":{self.url.port}" if self.url.port else ""
        return f"{self.url.scheme}://{self.url.host}{port}{self.url.path}"


@dataclass(frozen=True)
class Refused:
    """The server said the request itself is invalid.

    Attributes:
        status: the HTTP status.
        message: one line for the user (the key masked, 401/403 explained).
        detail: the server's own words, to tell a refused format from other refusals.
    """

    status: int
    message: str
    detail: str


class Exchange:
    """POSTs request bodies over one connection pool, retrying transient failures."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        settings: OpenAISettings,
        sleep: Sleep,
        rng: random.Random,
    ) -> None:
        self._client = client
        self._settings = settings
        self._sleep = sleep
        self._rng = rng

    async def post(self, target: Target, body: dict[str, Any], skill: str) -> Any:
        """Send ``body``; return the parsed 2xx body, or :class:`Refused`.

        Raises:
            BackendError: ``timeout``, ``backend`` or ``rate_limit`` once the in-process
                retries are spent (``retry_after_s`` set); ``invalid_input`` for a URL
                httpx cannot use.
        """
        headers = {"Authorization": f"Bearer {target.api_key}"} if target.api_key else {}
        tries = self._settings.max_retries + 1
        for attempt in range(1, tries + 1):
            response = await self._send(target, body, headers)
            status = response.status_code
            if 200 <= status < 300:
                return _json_body(response, target.where)
            parsed = _try_json(response)
            if request_invalid(status, parsed if parsed is not None else response.text):
                return _refused(response, parsed, target)
            kind = ErrorKind.RATE_LIMIT if status == 429 else ErrorKind.BACKEND
            hint = retry_after(response.headers, datetime.now(UTC))
            wait = hint if hint is not None else self._backoff(attempt)
            what = "rate limited" if status == 429 else "failed"
            detail = _redact(server_message(parsed), target.api_key)[:300]
            message = f"{target.where} {what} (HTTP {status}){': ' + detail if detail else ''}"
            if attempt >= tries:
                raise BackendError(
                    f"{message}; gave up after {attempt} attempt(s); retry after {wait:.3g}s",
                    kind,
                    retry_after_s=wait,
                )
            if wait > self._settings.backoff_max_s:
                raise BackendError(
                    f"{message}; the server asks to wait {wait:.3g}s, longer than this "
                    f"backend waits in-process ({self._settings.backoff_max_s:g}s)",
                    kind,
                    retry_after_s=wait,
                )
            log.info(
                "openai.retry",
                skill=skill,
                status=status,
                attempt=attempt,
                wait_s=round(wait, 3),
                server=target.where,
            )
            await self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send(
        self, target: Target, body: dict[str, Any], headers: dict[str, str]
    ) -> httpx.Response:
        try:
            return await self._client.post(target.url, json=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise BackendError(
                f"{target.where} did not answer within {self._settings.timeout_s:g}s "
                f"({type(exc).__name__})",
                ErrorKind.TIMEOUT,
            ) from exc
        except httpx.UnsupportedProtocol as exc:
            raise BackendError(
                f"{target.where} is not a usable URL: {exc}", ErrorKind.INVALID_INPUT
            ) from exc
        except httpx.TransportError as exc:
            raise BackendError(
                f"could not reach {target.where}: {type(exc).__name__}: {exc}", ErrorKind.BACKEND
            ) from exc

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with "equal jitter": half fixed, half random, capped."""
        ceiling = min(
            self._settings.backoff_max_s, self._settings.backoff_base_s * 2.0 ** (attempt - 1)
        )
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)


def _try_json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _json_body(response: httpx.Response, where: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise BackendError(
            f"{where} answered HTTP {response.status_code} with a body that is not JSON",
            ErrorKind.BACKEND,
        ) from None


def _refused(response: httpx.Response, parsed: Any, target: Target) -> Refused:
    """Why the request will not pass by retrying it, without repeating any key."""
    status = response.status_code
    detail = _redact(server_message(parsed) or response.text, target.api_key)[:300]
    if status in (401, 403):
        word = "unauthorized" if status == 401 else "forbidden"
        message = (
            f"{target.where} refused the request (HTTP {status} {word}): check "
            f"{target.key_var}; retrying will not help"
        )
        return Refused(status, message, detail)
    hint = " (check the base URL and the model name)" if status == 404 else ""
    message = f"{target.where} rejected the request (HTTP {status}){hint}: {detail or 'no detail'}"
    return Refused(status, message, detail)


def _redact(text: str, api_key: str | None) -> str:
    """``text`` with the key, and anything shaped like a provider key, masked."""
    if api_key:
        text = text.replace(api_key, "[REDACTED]")
    return _KEY_SHAPE.sub("[REDACTED]", text)
