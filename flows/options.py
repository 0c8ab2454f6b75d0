"""Typed parameters of the step and round flows (rendered as forms in the Prefect UI)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class StepOptions(BaseModel):
    """What to do with the loop's current round when it runs."""

    model_config = ConfigDict(extra="forbid")
    when_unfinished: Literal["wait", "accept_partial", "cancel"] = Field(
        "wait",
        description=(
            "If annotation is not finished: wait for all jobs (default), accept the jobs "
            "finished so far, or cancel the outstanding batch (its samples return to the pool)"
        ),
    )
    batch_size: int | None = Field(
        None, ge=1, description="Override the loop's batch size for a newly queried round"
    )
    open_next: bool = Field(
        True,
        description=(
            "After finishing the round in flight, query and export the next one at once (so "
            "annotators always have work); off, the step stops once the round is taught"
        ),
    )
