"""Telling an answer that says "your request is invalid" from one worth trying again.

Retrying a request the server found invalid only repeats the refusal: a llama.cpp-based
server that answered ``response_format: json_schema`` with HTTP 500 and a validation error
was asked nine times (three in-process tries for each of three task attempts) before the
task was dead-lettered. The rule here:

* **4xx** is the client's fault by definition and is not retried, except 408 (request
  timeout), 409 (conflict) and 429 (rate limit), which say "later" rather than "never".
* **5xx** is retried, *unless its body plainly says the request failed validation*, which
  servers built on web frameworks that turn every exception into a 500 do. Plainly means
  one of:

  - an OpenAI-style error type or code naming a client fault (``invalid_request_error``,
    ``BadRequestError``, ``validation_error``, ...);
  - FastAPI's request-validation body: ``detail`` is a list of ``{loc, msg}`` objects;
  - pydantic's own report: "1 validation error for ...", "Input should be ...";
  - the message names a field this backend sends that is about the request's form
    (``response_format``, ``json_schema``, ``tools``, ``tool_choice``, ``logprobs``, ...)
    *and* uses a refusal phrase ("must be", "not supported", "unknown", "invalid", ...).
    Both are required: a GPU fault may say "invalid" and a timeout may mention a field,
    and those are worth another try.

  Everything else (an empty body, "out of memory", "model is loading", a proxy's 502) is
  retried with backoff as before.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

#: 4xx statuses that mean "not now" rather than "not ever".
RETRYABLE_4XX = frozenset({408, 409, 429})

_CLIENT_FAULT_TYPE = re.compile(r"invalid[_ ]?request|validation|bad[_ ]?request", re.IGNORECASE)
_PYDANTIC_REPORT = re.compile(r"\bvalidation errors? for\b|\bInput should be\b")
_REQUEST_FIELD = re.compile(
    r"response[_ ]format|json[_ ]?schema|json[_ ]object|tool[_ ]choice|parallel[_ ]tool[_ ]calls"
    r"|\btools?\b|logprobs|grammar|\bschema\b",
    re.IGNORECASE,
)
_REFUSAL_PHRASE = re.compile(
    r"must be|should be|not supported|unsupported|not allowed|invalid|unknown|unrecogni[sz]ed"
    r"|expected|cannot|can't|requires|is required|not implemented",
    re.IGNORECASE,
)


def request_invalid(status: int, body: Any) -> bool:
    """Whether an error answer says the request itself is invalid (so never retry it).

    Args:
        status: the HTTP status (4xx or 5xx).
        body: the parsed JSON body, or the raw text when it was not JSON.
    """
    if 400 <= status < 500:
        return status not in RETRYABLE_4XX
    if status < 500:
        return False
    return _says_validation(body)


def _says_validation(body: Any) -> bool:
    if isinstance(body, Mapping):
        if _fastapi_validation(body.get("detail")):
            return True
        error = body.get("error")
        if isinstance(error, Mapping):
            for key in ("type", "code"):
                value = error.get(key)
                if isinstance(value, str) and _CLIENT_FAULT_TYPE.search(value):
                    return True
        return _message_says_validation(_message(body))
    if isinstance(body, str):
        return _message_says_validation(body)
    return False


def _fastapi_validation(detail: Any) -> bool:
    return (
        isinstance(detail, list)
        and bool(detail)
        and all(isinstance(item, Mapping) and "loc" in item and "msg" in item for item in detail)
    )


def _message(body: Mapping[str, Any]) -> str:
    error = body.get("error")
    if isinstance(error, Mapping):
        return str(error.get("message") or "")
    if isinstance(error, str):
        return error
    for key in ("message", "detail"):
        if isinstance(body.get(key), str):
            return str(body[key])
    return ""


def _message_says_validation(text: str) -> bool:
    if _PYDANTIC_REPORT.search(text):
        return True
    return bool(_REQUEST_FIELD.search(text) and _REFUSAL_PHRASE.search(text))
