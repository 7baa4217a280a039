"""Confidence thresholds that turn a Result's confidence into a Judge verdict."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Thresholds(BaseModel):
    """Confidence bands: approve at or above ``approve_at``, review at or above ``review_at``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    approve_at: float = Field(ge=0.0, le=1.0)
    review_at: float = Field(ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.review_at > self.approve_at:
            raise ValueError(
                f"review_at ({self.review_at}) must not be above approve_at ({self.approve_at})"
            )
        return self
