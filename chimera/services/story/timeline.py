"""The timeline of a task's story: each audit event said in one short line."""

from __future__ import annotations

from chimera.models.audit import AuditEvent, AuditEventType

_T = AuditEventType


def summary(event: AuditEvent) -> str:
    """One short line saying what ``event`` records."""
    d = event.data
    kind = event.type
    if kind is _T.DECISION:
        return f"{d.get('verdict')} at confidence {d.get('confidence')}: {d.get('reason')}"
    if kind is _T.TOOL_CALL:
        state = (
            f"error: {d.get('error')}" if d.get("is_error") else f"{d.get('result_chars')} chars"
        )
        return f"{d.get('server')}.{d.get('tool')} in {d.get('duration_ms')} ms ({state})"
    if kind is _T.RESULT:
        return f"attempt failed: {d.get('error')}"
    if kind is _T.RETRIED:
        return f"attempt {d.get('next_attempt') or d.get('attempt')} follows"
    if kind is _T.HUMAN_DECISION:
        what = (
            "tool calls " + ", ".join(map(str, d.get("tools") or [])) + " " if d.get("kind") else ""
        )
        note = f": {d['note']}" if d.get("note") else ""
        return f"{what}{d.get('verdict')}{' with retry' if d.get('retry') else ''}{note}"
    if kind is _T.RESUMED:
        return "resumed with the calls " + ("approved" if d.get("approved") else "refused")
    if kind is _T.REVIEW and d.get("kind") == "tool_calls":
        return "parked: " + str(d.get("reason"))
    for key in ("reason", "outcome", "error"):
        if d.get(key):
            return str(d[key])
    return ""
