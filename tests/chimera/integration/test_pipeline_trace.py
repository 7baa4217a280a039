"""One trace per pipeline run: every step's spans sit under the run's span (real Redis)."""

from __future__ import annotations

from pathlib import Path

import redis.asyncio as aioredis
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from chimera import Client
from chimera.lib.keys import Keyspace
from chimera.models.pipeline import RunState
from chimera.telemetry import names
from chimera.telemetry.run_spans import RUN_ID
from tests.chimera.pipeline_support import pipeline_yaml, write_project
from tests.chimera.tracing import spans
from tests.conftest import REDIS_URL

__all__ = ["spans"]

CHAIN = """\
a: {skill: work, input: {text: "{{ input.text }}"}}
b: {skill: work, needs: [a], input: {text: "{{ steps.a.output.text }}"}}
"""


async def test_every_step_of_a_run_is_in_the_runs_trace(
    tmp_path: Path, keyspace: Keyspace, real_redis: aioredis.Redis, spans: InMemorySpanExporter
) -> None:
    path = write_project(tmp_path, pipeline_yaml(CHAIN, "b"))
    path.write_text(
        path.read_text() + "judge: {policy: threshold, approve_at: 0.0, review_at: 0.0}\n"
    )
    client = Client.from_swarm(path, REDIS_URL, prefix=keyspace.prefix)
    async with client, client.serve(concurrency=4):
        run = await client.runs.start("acme", "p", {"text": "hello"})
        run = await client.runs.wait(run.id, timeout_s=30)
    assert run.state is RunState.SUCCEEDED
    finished = spans.get_finished_spans()
    [root] = [s for s in finished if (s.attributes or {}).get(RUN_ID) == run.id]
    assert root.context is not None
    assert f"{root.context.trace_id:032x}" == run.trace_id
    processed = [s for s in finished if s.name == names.SPAN_PROCESS_TASK]
    step_tasks = {task.task_id for step in run.steps.values() for task in step.tasks}
    ours = [s for s in processed if (s.attributes or {}).get(names.TASK_ID) in step_tasks]
    assert {(s.attributes or {}).get(names.TASK_ID) for s in ours} == step_tasks
    # Every step's span is in the run's trace, a child of the run's span.
    for span in ours:
        assert span.context is not None
        assert span.parent is not None
        assert span.context.trace_id == root.context.trace_id
        assert span.parent.span_id == root.context.span_id
