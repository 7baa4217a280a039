"""A small OpenAI-compatible chat-completions server, run for real on a loopback port.

It behaves like the local servers the backend has to cope with, as far as the tests need:

* it may refuse ``response_format`` types, the way llama.cpp-based servers do: a 500 whose
  body is a request-validation error for ``json_schema`` (the answer a real server gave),
  a 400 ``invalid_request_error`` for ``json_object``;
* offered tools, it first asks for two calls at once (``lookup_order`` and
  ``check_stock``); given their results it answers with JSON that quotes them;
* otherwise it answers ``{"answer": "4"}``.

Every request body is kept in ``requests`` for the tests to look at.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: What llama.cpp-based servers answered to ``response_format: {type: json_schema}``.
JSON_SCHEMA_REFUSAL = (
    500,
    {
        "error": {
            "code": 500,
            "message": 'response_format type must be one of "text" or "json_object", '
            "but got: json_schema",
            "type": "server_error",
        }
    },
)
JSON_OBJECT_REFUSAL = (
    400,
    {
        "error": {
            "code": 400,
            "message": "response_format type 'json_object' is not supported",
            "type": "invalid_request_error",
        }
    },
)


class FakeOpenAIServer:
    """The server's behaviour and what it was sent (shared with the handler thread)."""

    def __init__(self, refuse: frozenset[str] = frozenset()) -> None:
        self.refuse = refuse
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.url = ""

    def answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.requests.append(body)
        kind = (body.get("response_format") or {}).get("type")
        if kind == "json_schema" and "json_schema" in self.refuse:
            return JSON_SCHEMA_REFUSAL
        if kind == "json_object" and "json_object" in self.refuse:
            return JSON_OBJECT_REFUSAL
        messages = body["messages"]
        if body.get("tools") and not any(m["role"] == "tool" for m in messages):
            return 200, _tool_calls(body["model"])
        results = [m["content"] for m in messages if m["role"] == "tool"]
        answer = "; ".join(results) if results else "4"
        return 200, _final(body["model"], json.dumps({"answer": answer}))

    def kinds(self) -> list[str | None]:
        """The ``response_format`` type of each request received, in order."""
        return [(b.get("response_format") or {}).get("type") for b in self.requests]


def _envelope(model: str, message: dict[str, Any], finish: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-local",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 30, "completion_tokens": 7, "total_tokens": 37},
    }


def _tool_calls(model: str) -> dict[str, Any]:
    calls = [
        ("call_order", "lookup_order", {"order_id": "A-1"}),
        ("call_stock", "check_stock", {"sku": "SKU-9"}),
    ]
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(args)},
            }
            for call_id, name, args in calls
        ],
    }
    return _envelope(model, message, "tool_calls")


def _final(model: str, content: str) -> dict[str, Any]:
    return _envelope(model, {"role": "assistant", "content": content}, "stop")


def _handler(server: FakeOpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            if self.path != "/v1/chat/completions":
                status, reply = 404, {"error": {"message": f"no route {self.path}"}}
            else:
                status, reply = server.answer(body)
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Keep the test output quiet."""

    return Handler


@contextmanager
def running(refuse: frozenset[str] = frozenset()) -> Iterator[FakeOpenAIServer]:
    """Serve a :class:`FakeOpenAIServer` on 127.0.0.1 (a free port) until the block ends."""
    fake = FakeOpenAIServer(refuse)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
