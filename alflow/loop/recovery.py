"""A way out of every round state: fail or cancel a round, and drop samples deleted in flight.

Ending a round never deletes a label. Its samples that were not labelled return to the pool
(the pool is every sample that is not held out, labelled, or queued in a round still in flight),
and labels it already ingested stay in the loop's label field: the learner takes them at its
next teach (:func:`alflow.rounds.training.advance_learner` teaches every known label it has
not seen).

* ``cancel`` withdraws the round's annotation task (best effort: a backend that cannot be
  reached, or a task whose export never finished, does not keep the round in flight; the round
  records what could not be withdrawn).
* ``fail`` leaves the annotation task as it is, for inspection, and records why.
"""

from __future__ import annotations

import logging
from typing import Any

from alflow.data import store
from alflow.errors import AlflowError, LedgerError, plural, preview_ids
from alflow.loop.workspace import Workspace
from alflow.state.ledger import CANCELLED, FAILED, INGESTED, TERMINAL, now

log = logging.getLogger(__name__)

OUTCOMES = (FAILED, CANCELLED)


def end_round(
    ws: Workspace, loop: str, round_number: int, outcome: str, reason: str | None = None
) -> dict[str, Any]:
    """Move a round in flight to ``failed`` or ``cancelled``; returns its new record.

    Ending a round that already has that outcome changes nothing (a retry is harmless).

    Raises:
        LedgerError: the round is taught, or already ended the other way.
    """
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES}, not {outcome!r}")
    doc = ws.ledger.round(loop, round_number)
    if doc["state"] == outcome:
        return doc
    if doc["state"] in TERMINAL:
        raise LedgerError(
            f"loop {loop!r} round {round_number} is already {doc['state']!r} and stays so; "
            f"only a round in flight can become {outcome!r} ('alflow history {loop}' shows them; "
            f"'alflow rollback {loop} N' undoes a taught round)"
        )
    notes = []
    if outcome == CANCELLED and doc.get("backend"):
        notes.extend(_withdraw(ws, loop, doc))
    kept = len((doc.get("ingest") or {}).get("answered", [])) if doc["state"] == INGESTED else 0
    returned = len(doc.get("queried_ids", [])) - kept
    ended = {
        "outcome": outcome,
        "reason": reason,
        "from_state": doc["state"],
        "at": now(),
        "returned_to_pool": returned,
        "labels_kept": kept,
    }
    ws.ledger.set_state(loop, round_number, outcome, ended=ended)
    for note in notes:
        ws.ledger.add_note(loop, round_number, note)
    return ws.ledger.round(loop, round_number)


def _withdraw(ws: Workspace, loop: str, doc: dict[str, Any]) -> list[str]:
    """Cancel the round's annotation task; a backend error becomes a note, never a blocker."""
    ref = (doc.get("backend") or {}).get("ref")
    if not ref:
        return []
    try:
        ws.backend(ws.config(loop)).cancel(ref)
    except AlflowError as exc:
        log.warning("loop %r round %d: %s", loop, doc["round"], exc)
        return [
            f"the annotation task could not be withdrawn ({exc}); the round is cancelled "
            "anyway: delete the task in the annotation tool by hand"
        ]
    return []


def drop_deleted(ws: Workspace, loop: str, round_number: int, dataset) -> list[str]:
    """Drop the round's samples that were deleted from the dataset; returns their ids.

    The round goes on with the samples that remain, and its record keeps ``dropped_ids`` and a
    note saying what happened. A round whose every sample was deleted is failed.

    Raises:
        LedgerError: every sample of the round was deleted (the round is now ``failed``).
    """
    doc = ws.ledger.round(loop, round_number)
    queried = list(doc.get("queried_ids", []))
    existing = set(store.existing_ids(dataset, queried))
    gone = [sid for sid in queried if sid not in existing]
    if not gone:
        return []
    kept = [sid for sid in queried if sid in existing]
    were = "was" if len(gone) == 1 else "were"
    note = (
        f"{plural(len(gone), 'sample')} of this round {were} deleted from dataset "
        f"{dataset.name!r} while the round was in flight and dropped from it "
        f"({preview_ids(gone)}); {plural(len(kept), 'sample')} remain"
    )
    log.warning("loop %r round %d: %s", loop, round_number, note)
    ws.ledger.update_round(
        loop, round_number, queried_ids=kept, dropped_ids=[*doc.get("dropped_ids", []), *gone]
    )
    ws.ledger.add_note(loop, round_number, note)
    if not kept:
        end_round(ws, loop, round_number, FAILED, reason="every sample was deleted")
        raise LedgerError(
            f"loop {loop!r} round {round_number} failed: all its {plural(len(gone), 'sample')} "
            f"were deleted from dataset {dataset.name!r}; 'alflow step {loop}' opens the next round"
        )
    return gone
