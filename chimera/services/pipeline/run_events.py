"""The audit events of a pipeline run: started, a step enqueued, finished."""

from __future__ import annotations

from chimera.models.audit import AuditEvent, AuditEventType, event_id
from chimera.models.pipeline import PipelineRun, RunState
from chimera.services.pipeline.engine import ReadyStep

_FINISHED = (RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED)


def run_started(run: PipelineRun, actor: str) -> AuditEvent:
    """The ``run_started`` event of ``run``."""
    return _event(
        AuditEventType.RUN_STARTED,
        run,
        actor,
        event_id(AuditEventType.RUN_STARTED, run.id),
        {"pipeline": run.pipeline, "input": run.input},
    )


def step_enqueued(run: PipelineRun, ready: ReadyStep, actor: str) -> AuditEvent:
    """The ``step_enqueued`` event of one ready step (all its item tasks in one record)."""
    return _event(
        AuditEventType.STEP_ENQUEUED,
        run,
        actor,
        event_id(AuditEventType.STEP_ENQUEUED, run.id, ready.step),
        {
            "pipeline": run.pipeline,
            "step": ready.step,
            "skill": ready.skill,
            "task_ids": ready.task_ids,
        },
    )


def run_finished(before: PipelineRun, after: PipelineRun, actor: str) -> AuditEvent | None:
    """The ``run_finished`` event when ``after`` finished and ``before`` had not."""
    if after.state not in _FINISHED or before.state in _FINISHED:
        return None
    return _event(
        AuditEventType.RUN_FINISHED,
        after,
        actor,
        event_id(AuditEventType.RUN_FINISHED, after.id),
        {
            "pipeline": after.pipeline,
            "outcome": after.state.value,
            "failed_step": after.failed_step,
            "reason": after.reason,
            "steps": {name: step.state.value for name, step in after.steps.items()},
        },
    )


def _event(
    kind: AuditEventType, run: PipelineRun, actor: str, ident: str, data: dict[str, object]
) -> AuditEvent:
    return AuditEvent(
        id=ident,
        type=kind,
        tenant=run.tenant,
        session=run.session,
        trace_id=run.trace_id,
        actor=actor,
        data={"run": run.id, **data},
    )
