"""A loop's rounds: creation, the steps of a round, its learner, history edits and stop rules.

Each step is a function of (workspace, loop, round) that a task calls; every step is idempotent
(see :mod:`alflow.rounds.steps`). The modules:

- :mod:`~alflow.rounds.lifecycle`: create a loop (split, initial labels, round 0) or delete it.
- :mod:`~alflow.rounds.steps`: open, query, export, annotation progress, review, ingest, teach,
  cancel, readiness.
- :mod:`~alflow.rounds.training`: load, fit, teach, checkpoint, evaluate, write predictions back.
- :mod:`~alflow.rounds.history`: rollback and re-include.
- :mod:`~alflow.rounds.stop_rules`: when a loop is done.
- :mod:`~alflow.rounds.records`: what the others read: labels, the split, round summaries.

The names below are the ones used from outside, so ``from alflow import rounds`` and
``rounds.query(...)`` read the same whichever module holds the function.
"""

from alflow.rounds.history import finish_pending_edit, reinclude, rollback
from alflow.rounds.lifecycle import delete_loop, discard_unfinished, fit_initial, register_loop
from alflow.rounds.records import (
    active_loops,
    eval_ids,
    is_active,
    labelled,
    queued_ids,
    round_state,
    round_summary,
    summarize,
)
from alflow.rounds.steps import (
    annotation_progress,
    cancel,
    export,
    finish_review,
    ingest,
    open_round,
    query,
    readiness,
    teach_round,
)
from alflow.rounds.stop_rules import update_stop_rules

__all__ = [
    "active_loops",
    "annotation_progress",
    "cancel",
    "delete_loop",
    "discard_unfinished",
    "eval_ids",
    "export",
    "finish_pending_edit",
    "finish_review",
    "fit_initial",
    "ingest",
    "is_active",
    "labelled",
    "open_round",
    "query",
    "queued_ids",
    "readiness",
    "register_loop",
    "reinclude",
    "rollback",
    "round_state",
    "round_summary",
    "summarize",
    "teach_round",
    "update_stop_rules",
]
