"""Prefect tasks: one thin, logged step of a round each, over :mod:`alflow.rounds`.

Tasks take and return small values (loop names, round numbers, ids, paths, summaries), never
live datasets, clients or arrays. Idempotency lives in the ledger, not in Prefect's cache, so
tasks use ``NO_CACHE``; transient failures are retried, user errors (``AlflowError``) are not.
"""

from alflow.services import configured  # noqa: F401  (before Prefect and FiftyOne)

# isort: split

from tasks.steps import (
    acquire_loop,
    active_loops,
    cancel_round,
    check_progress,
    delete_loop,
    discard_unfinished_loop,
    export_batch,
    fit_initial_learner,
    ingest_labels,
    load_features,
    loop_is_active,
    loop_ready,
    open_round,
    query_batch,
    register_loop,
    release_loop,
    round_state,
    round_summary,
    teach_learner,
)

__all__ = [
    "acquire_loop",
    "active_loops",
    "cancel_round",
    "check_progress",
    "delete_loop",
    "discard_unfinished_loop",
    "export_batch",
    "fit_initial_learner",
    "ingest_labels",
    "load_features",
    "loop_is_active",
    "loop_ready",
    "open_round",
    "query_batch",
    "register_loop",
    "release_loop",
    "round_state",
    "round_summary",
    "teach_learner",
]
