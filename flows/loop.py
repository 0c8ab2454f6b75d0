"""Creating a loop, and advancing it by one step."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from prefect import flow, tags
from pydantic import Field

from alflow.config import naming
from alflow.config.loop import LoopConfig, StepOptions
from alflow.loop.workspace import open_workspace, version_string
from alflow.state import locks
from flows.round import round_flow
from tasks import (
    acquire_loop,
    delete_loop,
    discard_unfinished_loop,
    fit_initial_learner,
    load_features,
    loop_is_active,
    open_round,
    register_loop,
    release_loop,
    round_state,
)


def _run_round(loop: str, number: int, options: StepOptions) -> dict[str, Any]:
    with tags(*naming.round_run_tags(loop, number)):
        return round_flow(loop, number, options)


@flow(name="alflow-create-loop", flow_run_name="{config.name}-create", version=version_string())
def create_loop_flow(
    config: LoopConfig,
    replace: bool = False,
    dask_workers: Annotated[int | None, Field(ge=1)] = None,
) -> dict[str, Any]:
    """Store a loop, cache its features and fit round 0 on its initial labels (``dask_workers``:
    score round 0 on a local Dask cluster of that many workers)."""
    if replace:
        delete_loop(config.name, missing_ok=True)
    registered = register_loop(config)
    try:
        load_features(config.name)
        round_0 = fit_initial_learner(config.name, dask_workers)
    except BaseException:
        # a loop that never reached round 0 must not stay behind half-made
        discard_unfinished_loop(config.name)
        raise
    return {**registered, "round_0": round_0}


@flow(name="alflow-step", flow_run_name="{loop}-step", version=version_string())
def step_flow(loop: str, options: StepOptions | None = None) -> dict[str, Any]:
    """Advance ``loop`` by one step: finish the round in flight, or run a new one.

    A round that was waiting for annotators and is now taught is followed at once by the next
    round's query and export, so annotators always have work while the loop is active.
    ``options.when_unfinished`` applies only to a round that was already in flight.

    Returns the summary of the last round it worked on, with ``touched``: the summaries of every
    round it worked on, in order (the taught round, then the one it opened).
    """
    options = options or StepOptions()
    # when_unfinished is a decision about the round already out for annotation; a round this
    # step opens itself always waits for its annotators
    fresh = options.model_copy(update={"when_unfinished": "wait"})
    with _holding(loop):
        number = open_round(loop)
        resumed = round_state(loop, number) is not None
        touched = [_run_round(loop, number, options if resumed else fresh)]
        opens_next = resumed and options.open_next and touched[0]["state"] == "taught"
        if opens_next and loop_is_active(loop):
            touched.append(_run_round(loop, open_round(loop), fresh))
        return {**touched[-1], "touched": touched}


@contextmanager
def _holding(loop: str) -> Iterator[str]:
    """The loop's lock for this run, renewed by a heartbeat in this process while it works."""
    owner = acquire_loop(loop)
    beat = locks.Heartbeat(open_workspace().ledger, loop, owner).start()
    try:
        yield owner
    finally:
        beat.stop()
        release_loop(loop, owner)
