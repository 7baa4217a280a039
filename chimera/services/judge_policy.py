"""The default Judge policy: confidence bands, with sensitive skills always reviewed."""

from __future__ import annotations

from chimera.models.decision import Decision, Verdict
from chimera.ports.judge import PolicyInput


class ThresholdPolicy:
    """``approve`` at or above ``approve_at``; ``review`` at or above ``review_at``; else ``deny``.

    A sensitive skill's Result goes to ``review`` whatever its confidence. A deny is marked
    ``retry`` when the settings say ``on_deny: retry`` and the task has attempts left; the
    Judge then runs the task again with the reason as feedback. Pure: same input, same
    decision.
    """

    name = "threshold"

    async def decide(self, item: PolicyInput) -> Decision:
        """Decide on ``item`` from its confidence and the thresholds that apply."""
        return decide_by_thresholds(item, self.name)


def decide_by_thresholds(item: PolicyInput, policy: str) -> Decision:
    """The band logic, shared with policies that add checks before it."""
    result, thresholds = item.result, item.settings.thresholds
    confidence = result.confidence
    retry = False
    if item.sensitive:
        verdict, reason = Verdict.REVIEW, f"skill {result.skill!r} is sensitive: a human decides"
    elif confidence >= thresholds.approve_at:
        verdict = Verdict.APPROVE
        reason = f"confidence {confidence:.3f} >= approve_at {thresholds.approve_at}"
    elif confidence >= thresholds.review_at:
        verdict = Verdict.REVIEW
        reason = (
            f"confidence {confidence:.3f} in review band "
            f"[{thresholds.review_at}, {thresholds.approve_at})"
        )
    else:
        verdict = Verdict.DENY
        reason = f"confidence {confidence:.3f} < review_at {thresholds.review_at}"
        retry = item.settings.on_deny == "retry" and item.task.attempt < item.max_attempts
    return Decision.on(result, verdict, reason, policy, thresholds, retry)
