"""One round of a loop as one Prefect flow run, named ``<loop>-round-NNN``.

Every task is idempotent against the ledger, so the flow is the same straight line whether the
round is new, waiting for annotators, or already taught: a re-run picks up where the ledger says
the round stands and never repeats a finished step.
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from alflow.config.loop import StepOptions
from alflow.loop.workspace import version_string
from alflow.state.ledger import CANCELLED, FAILED, QUERIED
from tasks import (
    cancel_round,
    check_progress,
    export_batch,
    ingest_labels,
    load_features,
    query_batch,
    round_state,
    round_summary,
    teach_learner,
)
from tasks.artifacts import publish_round_artifacts


@flow(
    name="alflow-round",
    flow_run_name="{loop}-round-{round_number:03d}",
    version=version_string(),
    log_prints=True,
)
def round_flow(loop: str, round_number: int, options: StepOptions | None = None) -> dict[str, Any]:
    """Query, export, (wait,) ingest and teach one round of ``loop``."""
    options = options or StepOptions()
    state = round_state(loop, round_number)
    if state in (CANCELLED, FAILED):
        return round_summary(loop, round_number)
    if state == QUERIED and options.when_unfinished == "cancel":
        # never exported (or its export failed): cancelling must not need the export to work
        cancel_round(loop, round_number)
        publish_round_artifacts(loop, round_number)
        return round_summary(loop, round_number)
    load_features(loop)
    query_batch(loop, round_number, options.batch_size)
    export_batch(loop, round_number)
    progress = check_progress(loop, round_number)
    if progress["finished"] or options.when_unfinished == "accept_partial":
        ingest_labels(loop, round_number, partial=not progress["finished"])
        teach_learner(loop, round_number, options.dask_workers)
    elif options.when_unfinished == "cancel":
        cancel_round(loop, round_number)
    publish_round_artifacts(loop, round_number)
    return round_summary(loop, round_number)
