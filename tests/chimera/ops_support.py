"""A small swarm on the mock backend with one skill per outcome, and workers in a thread.

The CLI tests run ``chimera`` in the test's thread; the tasks they submit are run by a
Worker and a Judge started here on their own event loop (the same ``Client.serve`` an
application or notebook uses), against the real Redis under the test's prefix.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from chimera.client import Client

TEXT_SCHEMA = {
    "type": "object",
    "required": ["text"],
    "additionalProperties": False,
    "properties": {"text": {"type": "string"}},
}
ANSWER_SCHEMA = {
    "type": "object",
    "required": ["answer"],
    "additionalProperties": False,
    "properties": {"answer": {"type": "string", "minLength": 1}},
}


def skill(name: str, **extra: Any) -> dict[str, Any]:
    """A mock skill answering ``{"answer": …}``; ``extra`` overrides (``mock`` is merged)."""
    body: dict[str, Any] = {
        "name": name,
        "backend": "mock",
        "prompt": "Answer {{ text }}.{% if feedback %} Reviewer said: {{ feedback }}{% endif %}",
        "input_schema": TEXT_SCHEMA,
        "output_schema": ANSWER_SCHEMA,
        "timeout_s": 30,
        "retry": {"max_attempts": 2, "backoff_base_s": 0.01, "backoff_max_s": 0.05},
        "mock": {"confidence": 0.95, "output": {"answer": "yes"}},
    }
    mock = {**body["mock"], **extra.pop("mock", {})}
    return {**body, **extra, "mock": mock}


#: One skill per outcome: committed, denied, review (sensitive), dead-lettered, slow, and
#: one whose failed attempt waits a long backoff in the delayed set.
SKILLS = [
    skill("approve"),
    skill("deny", mock={"confidence": 0.1}),
    skill("park", sensitive=True),
    skill("crash", mock={"failure_rate": 1.0}),
    skill("slow", mock={"latency_ms": 1500}),
    skill(
        "flaky",
        mock={"failure_rate": 1.0},
        retry={"max_attempts": 3, "backoff_base_s": 300, "backoff_max_s": 300},
    ),
]


def write_ops_swarm(
    folder: Path,
    tenants: dict[str, Any] | None = None,
    skills: list[dict[str, Any]] | None = None,
) -> Path:
    """Write the swarm (tenants ``acme`` and ``globex`` by default) and return its path."""
    chosen = skills or SKILLS
    (folder / "skills").mkdir(parents=True, exist_ok=True)
    for body in chosen:
        (folder / "skills" / f"{body['name']}.yaml").write_text(yaml.safe_dump(body))
    names = [body["name"] for body in chosen]
    swarm = {
        "version": 1,
        "name": "ops",
        "skills": ["skills/*.yaml"],
        "tenants": tenants or {"acme": {"skills": names}, "globex": {"skills": names}},
        "judge": {"policy": "threshold", "approve_at": 0.8, "review_at": 0.5},
        "audit": {"sinks": ["redis"]},
    }
    path = folder / "swarm.yaml"
    path.write_text(yaml.safe_dump(swarm))
    return path


@contextmanager
def workers(swarm: Path, redis_url: str, prefix: str, concurrency: int = 50) -> Iterator[None]:
    """Run a Worker and a Judge for ``swarm`` in a background thread while the block runs."""
    stop = threading.Event()
    started = threading.Event()
    failures: list[BaseException] = []

    async def main() -> None:
        client = Client.from_swarm(swarm, redis_url, prefix=prefix, actor="worker")
        async with client, client.serve(concurrency=concurrency):
            started.set()
            await asyncio.to_thread(stop.wait)

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # reported to the test below
            failures.append(exc)
            started.set()

    thread = threading.Thread(target=run, name="ops-workers", daemon=True)
    thread.start()
    started.wait(30)
    try:
        yield
    finally:
        stop.set()
        thread.join(60)
    if failures:
        raise failures[0]
