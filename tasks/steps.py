"""The round's steps as Prefect tasks; each body is one call into :mod:`alflow.rounds`."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from alflow import rounds
from alflow.config.loop import LoopConfig
from alflow.errors import AlflowError
from alflow.loop import prefect_crashes
from alflow.loop.workspace import open_workspace
from alflow.state import locks


def _log():
    """The run logger inside a run; a plain logger when a body is called via ``.fn()``."""
    from prefect.exceptions import MissingContextError
    from prefect.logging import get_logger, get_run_logger

    try:
        return get_run_logger()
    except MissingContextError:
        return get_logger("alflow.tasks")


def retry_unless_user_error(task_, task_run, state) -> bool:
    """Retry transient failures; an AlflowError is the user's to fix, so fail at once."""
    return not isinstance(getattr(state, "data", None), AlflowError)


STEP = {
    "cache_policy": NO_CACHE,
    "retries": 2,
    "retry_delay_seconds": 2,
    "retry_condition_fn": retry_unless_user_error,
}


@task(name="register-loop", **STEP)
def register_loop(config: LoopConfig) -> dict[str, Any]:
    """Validate and store a new loop; write its split and initial labels."""
    return rounds.register_loop(open_workspace(), config)


@task(name="delete-loop", **STEP)
def delete_loop(loop: str, missing_ok: bool = False) -> dict[str, Any]:
    """Remove a loop's fields, ledger records and checkpoints."""
    return rounds.delete_loop(open_workspace(), loop, missing_ok)


@task(name="discard-unfinished-loop", **STEP)
def discard_unfinished_loop(loop: str) -> bool:
    """Remove a loop whose creation failed before round 0 (a complete loop is kept)."""
    return rounds.discard_unfinished(open_workspace(), loop)


@task(name="load-features", **STEP)
def load_features(loop: str, refresh: bool = False) -> str:
    """Build or reuse the loop's cached feature matrix; returns its path."""
    ws = open_workspace()
    fm = ws.features(ws.config(loop), refresh=refresh)
    _log().info("features: %d samples x %d dims at %s", *fm.X.shape, fm.path)
    return str(fm.path)


@task(name="fit-initial-learner", **STEP)
def fit_initial_learner(loop: str, dask_workers: int | None = None) -> dict[str, Any]:
    """Round 0: fit on the initial labels, checkpoint, evaluate, write predictions."""
    return rounds.fit_initial(open_workspace(dask_workers=dask_workers), loop)


@task(name="open-round", **STEP)
def open_round(loop: str) -> int:
    """The loop's round in flight, or a new round number."""
    return rounds.open_round(open_workspace(), loop)


@task(name="round-state", **STEP)
def round_state(loop: str, round_number: int) -> str | None:
    """The round's state in the ledger (None before it is queried)."""
    return rounds.round_state(open_workspace(), loop, round_number)


@task(name="query-batch", **STEP)
def query_batch(loop: str, round_number: int, batch_size: int | None = None) -> list[str]:
    """Select and record the round's batch."""
    ids = rounds.query(open_workspace(), loop, round_number, batch_size)
    _log().info("round %d: %d samples queried", round_number, len(ids))
    return ids


@task(name="export-batch", **STEP)
def export_batch(loop: str, round_number: int, force_new: bool = False) -> dict[str, Any]:
    """Send the batch to the annotation backend; returns the backend reference."""
    return rounds.export(open_workspace(), loop, round_number, force_new)


@task(name="check-progress", **STEP)
def check_progress(loop: str, round_number: int) -> dict[str, Any]:
    """How much of the batch is annotated."""
    return rounds.annotation_progress(open_workspace(), loop, round_number)


@task(name="ingest-labels", **STEP)
def ingest_labels(loop: str, round_number: int, partial: bool = False) -> dict[str, Any]:
    """Write the annotators' labels into the loop's label field."""
    report = rounds.ingest(open_workspace(), loop, round_number, partial)
    _log().info(
        "round %d: %d labels ingested, %d changed by annotators, %d unresolved",
        round_number,
        len(report.get("answered", [])),
        report.get("changed") or 0,
        len(report.get("unresolved", [])),
    )
    return report


@task(name="teach-learner", **STEP)
def teach_learner(loop: str, round_number: int, dask_workers: int | None = None) -> dict[str, Any]:
    """Teach the new labels, checkpoint, evaluate and write predictions."""
    return rounds.teach_round(open_workspace(dask_workers=dask_workers), loop, round_number)


@task(name="cancel-round", **STEP)
def cancel_round(loop: str, round_number: int) -> dict[str, Any]:
    """Withdraw the round's outstanding batch; its samples return to the pool."""
    return rounds.cancel(open_workspace(), loop, round_number)


@task(name="round-summary", **STEP)
def round_summary(loop: str, round_number: int) -> dict[str, Any]:
    """The round's record as a small table row; notes the current flow run in the ledger."""
    from prefect.runtime import flow_run

    run_id = str(flow_run.id) if flow_run.id else None
    return rounds.round_summary(open_workspace(), loop, round_number, run_id, flow_run.name)


@task(name="acquire-loop", cache_policy=NO_CACHE)
def acquire_loop(loop: str, ttl_seconds: float = locks.LEASE_SECONDS) -> str:
    """Take the loop's lock for this flow run (one round in flight per loop).

    The lock is a lease the flow renews with a heartbeat; taking over a dead run's lock marks
    every run that step left unfinished (its own, its round runs, their tasks) crashed.
    """
    from prefect.runtime import flow_run

    owner = str(flow_run.id or "local")
    ws = open_workspace()
    replaced = locks.take(ws.ledger, loop, owner, ttl_seconds)
    if replaced:
        by = f"run {flow_run.name or owner!r} took the loop over"
        prefect_crashes.mark_dead_step(ws.ledger, loop, replaced, by, spare=[owner])
    return owner


@task(name="release-loop", cache_policy=NO_CACHE)
def release_loop(loop: str, owner: str) -> None:
    """Give the loop's lock back."""
    open_workspace().ledger.release(loop, owner)


@task(name="loop-is-active", **STEP)
def loop_is_active(loop: str) -> bool:
    """Whether the loop may open another round (not paused, not done)."""
    return rounds.is_active(open_workspace(), loop)


@task(name="active-loops", **STEP)
def active_loops() -> list[str]:
    """Names of loops that are neither paused nor done."""
    return rounds.active_loops(open_workspace())


@task(name="loop-ready", **STEP)
def loop_ready(loop: str) -> tuple[bool, str]:
    """Whether a step would make progress now, and why not if it would not."""
    return rounds.readiness(open_workspace(), loop)
