"""How ``chimera task show`` prints a task's story: a header, then one section per part."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click

from chimera.services.story.model import Attempt, Ending, Event, TaskStory


def print_story(story: TaskStory) -> None:
    """The story in readable sections, oldest first."""
    click.echo(
        f"task {story.task_id}  tenant {story.tenant}  session {story.session or '?'}  "
        f"skill {story.skill or '?'}"
    )
    facts = [f"state {story.state}", f"{len(story.attempts)} attempt(s)"]
    if story.max_attempts is not None:
        facts.append(f"at most {story.max_attempts}")
    facts.append(f"trace {story.trace_id or '(none)'}")
    click.echo(" · ".join(facts))
    total = story.as_json()["total_ms"]
    times = [f"submitted {_at(story.submitted_at)}"]
    if story.ended_at is not None:
        times.append(f"ended {_at(story.ended_at)}")
    if total is not None:
        times.append(f"total {_ms(total)}")
    click.echo(" · ".join(times))
    if story.pipeline is not None:
        click.echo(f"pipeline run {story.pipeline.get('run')}  step {story.pipeline.get('step')}")
    if story.input is not None:
        _block("input", _json(story.input))
    elif story.input_excerpt is not None:
        _block("input (cut)", story.input_excerpt)
    else:
        _block("input", "(not recorded)")
    for attempt in story.attempts:
        _attempt(story, attempt)
    if story.waiting is not None:
        _waiting(story)
    if story.human:
        lines = []
        for step in story.human:
            what = f"tool calls {', '.join(step.tools)}: " if step.kind == "tool_calls" else ""
            retry = " with retry" if step.retry else ""
            note = f" — {step.note}" if step.note else ""
            lines.append(f"{_at(step.at)}  {step.actor}  {what}{step.verdict}{retry}{note}")
        _block("human decisions", "\n".join(lines))
    _ending("committed", story.commit)
    _ending("dead-lettered", story.dead_letter)
    _ending("cancelled", story.cancellation)
    if story.events:
        _block("timeline", "\n".join(_event_line(e) for e in story.events))
    for note in story.notes:
        click.echo(f"note: {note}")


def _attempt(story: TaskStory, attempt: Attempt) -> None:
    title = f"attempt {attempt.number}"
    if attempt.replay:
        title += f" (after replay {attempt.replay})"
    if attempt.ended:
        by = f" by {attempt.ended_by}" if attempt.ended_by else ""
        title += f" — {attempt.ended}{by}"
    lines: list[str] = []
    timings = attempt.timings_ms()
    stages = [f"{name} {_ms(ms)}" for name, ms in timings.items() if ms is not None]
    where = f"worker {attempt.worker}" if attempt.worker else "worker ?"
    if attempt.started_at is not None:
        where += f", started {_at(attempt.started_at)}"
    lines.append(where + (f" · {' · '.join(stages)}" if stages else ""))
    if attempt.reclaimed:
        lines.append(f"taken over {attempt.reclaimed} time(s) from a worker that stopped")
    figures = []
    if attempt.confidence is not None:
        figures.append(f"confidence {attempt.confidence:.3f}")
    if attempt.input_tokens is not None:
        figures.append(f"tokens {attempt.input_tokens} in / {attempt.output_tokens or 0} out")
    if attempt.cost is not None:
        figures.append(f"cost {attempt.cost:.6f} {story.currency or ''}".rstrip())
    if figures:
        lines.append(" · ".join(figures))
    if attempt.parked_for:
        lines.append(f"stopped for a human's approval of: {', '.join(attempt.parked_for)}")
    _block(title, "\n".join(lines))
    if attempt.prompt is not None:
        _block("prompt", attempt.prompt, indent=2)
    if attempt.tool_calls:
        rows = []
        for call in attempt.tool_calls:
            state = f"error: {call.error}" if call.is_error else f"{call.result_chars} chars"
            rows.append(f"{call.server}.{call.tool}  {_ms(call.duration_ms)}  {state}")
        _block("tool calls", "\n".join(rows), indent=2)
    if attempt.answer is not None:
        _block("raw answer", attempt.answer, indent=2)
    if attempt.output is not None:
        _block("output", _json(attempt.output), indent=2)
    elif attempt.output_excerpt is not None:
        _block("output (as kept)", attempt.output_excerpt, indent=2)
    if attempt.error is not None:
        kind = f" ({attempt.error_kind})" if attempt.error_kind else ""
        _block(f"error{kind}", attempt.error, indent=2)
    judge = attempt.judge
    if judge is not None:
        confidence = f" at confidence {judge.confidence}" if judge.confidence is not None else ""
        who = f"{judge.actor} {judge.process}" if judge.process else judge.actor
        _block(
            f"judge ({judge.policy}, {who})",
            f"{judge.verdict}{confidence}: {judge.reason}",
            indent=2,
        )
    if attempt.feedback:
        _block("feedback to the next attempt", attempt.feedback, indent=2)


def _waiting(story: TaskStory) -> None:
    waiting = story.waiting
    assert waiting is not None
    what = "tool calls to approve" if waiting.kind == "tool_calls" else "a Result to judge"
    lines = [f"waits for a human since {_at(waiting.since)}: {what}", f"reason: {waiting.reason}"]
    for call in waiting.tool_calls:
        lines.append(f"proposed: {call.get('server')}.{call.get('tool')} {call.get('arguments')}")
    lines.append("decide with `chimera review approve|reject`")
    _block("review", "\n".join(lines))


def _ending(title: str, ending: Ending | None) -> None:
    if ending is None:
        return
    by = f"{ending.by or '?'} ({ending.process})" if ending.process else ending.by or "?"
    parts = [f"at {_at(ending.at)}", f"by {by}"]
    if ending.attempt is not None:
        parts.append(f"attempt {ending.attempt}")
    lines = [" ".join(parts)]
    if ending.reason:
        lines.append(f"reason: {ending.reason}")
    if ending.error:
        lines.append(f"last error: {ending.error}")
    if ending.in_queue:
        lines.append("in the dead-letter queue: `chimera dlq replay` runs it again")
    _block(title, "\n".join(lines))


def _event_line(event: Event) -> str:
    attempt = f"#{event.attempt}" if event.attempt is not None else "  "
    summary = f"  {event.summary}" if event.summary else ""
    return f"{_at(event.at)}  {attempt}  {event.type:<15} {event.actor}{summary}"


def _block(title: str, text: str, indent: int = 0) -> None:
    pad = " " * indent
    click.echo(f"{pad}{title}:")
    for line in text.splitlines() or [""]:
        click.echo(f"{pad}  {line}")


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def _at(at: datetime | None) -> str:
    return at.isoformat(timespec="milliseconds") if at is not None else "?"


def _ms(ms: float | None) -> str:
    if ms is None:
        return "?"
    return f"{ms:.1f} ms" if ms < 10_000 else f"{ms / 1000:.2f} s"
