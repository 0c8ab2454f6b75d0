"""The steps of a round, each a function of (workspace, loop, round) that a task calls.

Each step reads what it needs from the ledger, FiftyOne and the feature cache, calls the pure
logic (labels, strategies, learners), writes its result, and moves the round's state. Every step
is idempotent: run again on a round that is past it, it returns what it recorded the first time,
so a retried task or a re-run flow never queries twice, teaches twice or duplicates a ledger entry.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import numpy as np

from alflow.backends import Batch, BatchItem, Collected
from alflow.config import naming
from alflow.config.loop import LoopConfig
from alflow.data import labels as lab
from alflow.data import store
from alflow.errors import BackendError, LedgerError, PoolExhaustedError
from alflow.learning import learners
from alflow.learning.seeds import round_seed
from alflow.loop import recovery
from alflow.loop.workspace import Workspace
from alflow.rounds import detection, own_model
from alflow.rounds.history import finish_pending_edit
from alflow.rounds.records import eval_ids, labelled, labelled_ids, queued_ids, summarize
from alflow.rounds.stop_rules import apply_stop_rules
from alflow.rounds.training import advance_learner, kept_pool_proba, load_learner
from alflow.state import locks
from alflow.state.ledger import (
    ACTIVE,
    CANCELLED,
    CREATING,
    DONE,
    EXPORTED,
    INGESTED,
    QUERIED,
    TAUGHT,
    TERMINAL,
    WAITING,
)
from alflow.strategies import bind_strategy
from alflow.strategies.pool import PoolRows

log = logging.getLogger(__name__)


def open_round(ws: Workspace, loop: str) -> int:
    """The round in flight, or a newly allocated round number when there is none."""
    doc = ws.ledger.loop(loop)
    if doc["status"] == CREATING:
        raise LedgerError(
            f"loop {loop!r} was not completely created (its creation stopped before round 0); "
            f"run 'alflow loop create' with its configuration again to complete it, or delete "
            f"it with 'alflow loop delete {loop}'"
        )
    if doc["status"] == DONE:
        raise LedgerError(
            f"loop {loop!r} is done ({doc.get('done_reason', 'stop rule reached')}); raise its "
            f"stop rules ('alflow loop stop-rules {loop} --max-rounds N', or --label-budget) or "
            "create a new loop"
        )
    ws.check_backend(ws.config(loop))
    finish_pending_edit(ws, loop)
    current = ws.ledger.in_flight(loop)
    if current is not None:
        return int(current["round"])
    latest = ws.ledger.latest_round(loop)
    if doc["last_round"] > (latest["round"] if latest else -1):
        # allocated by a step that stopped before its query recorded the round: the number has
        # no record yet, so this step takes it instead of burning it
        return int(doc["last_round"])
    return ws.ledger.allocate_round(loop)


def query(ws: Workspace, loop: str, round_number: int, batch_size: int | None = None) -> list[str]:
    """Select the round's batch from the pool and record it (state ``queried``)."""
    existing = ws.ledger.get_round(loop, round_number)
    if existing is not None:
        return list(existing["queried_ids"])
    if round_number > ws.ledger.loop(loop)["last_round"]:
        raise LedgerError(
            f"loop {loop!r} round {round_number} was never opened; run the loop's next step"
        )
    config = ws.config(loop)
    n = batch_size or config.batch_size
    dataset = ws.dataset(config)
    fm = ws.features(config)
    mask = lab.pool_mask(
        fm.ids,
        eval_ids(dataset, loop),
        labelled_ids(dataset, loop, include_excluded=True),
        queued_ids(ws, loop),
    )
    n_pool = int(mask.sum())
    detecting = config.task == "detection"
    if n_pool < (1 if detecting and config.detection.batch_unit == "boxes" else n):
        raise PoolExhaustedError(
            f"loop {loop!r} round {round_number}: pool exhausted: {n_pool} unlabelled samples "
            f"left, {n} requested; lower batch_size or add samples"
        )
    state = load_learner(ws, loop, round_number)
    rs = round_seed(config.random_state, round_number)
    if detecting:
        ids, scores = detection.select(ws, config, state, mask, n, rs)
    else:
        ids, scores = _select_samples(ws, config, round_number, state, fm, mask, n, rs)
    ws.ledger.insert_round(
        loop,
        round_number,
        QUERIED,
        queried_ids=ids,
        strategy=config.strategy.name,
        batch_size=n,
        base_round=None if state is None else state.round_number,
        random_state=rs,
        scores=scores,
    )
    return ids


def _select_samples(ws, config, round_number, state, fm, mask, n, rs):
    """A classification batch's ids and scores, by the loop's strategy."""
    pool_rows = np.flatnonzero(mask)
    if own_model.scored_by_model(config):  # the team's model: its predictions' probabilities
        picked, scores = own_model.select_batch(ws, config, fm, pool_rows, n, rs)
        return _picked_ids(fm, pool_rows, picked, scores)
    # rows read as strategies ask, never the pool copied; the learner's probabilities from its
    # write-back when they were kept
    kept = kept_pool_proba(ws, config.name, round_number, state, fm.path.name)
    X_pool = PoolRows(fm.X, pool_rows, None if kept is None else kept[pool_rows])
    if state is None:  # cold start: the strategy needs no model
        strategy = bind_strategy(config.strategy)
        picked, scores = strategy(None, X_pool, n_instances=n, random_state=rs)
    else:
        picked, scores = learners.select_batch(state, X_pool, n, rs)
    return _picked_ids(fm, pool_rows, picked, scores)


def _picked_ids(fm, pool_rows, picked, scores) -> tuple[list[str], list[float] | None]:
    """The sample ids of the picked pool positions, and their scores as plain floats."""
    picked = np.asarray(picked).ravel()
    scores = None if scores is None else [float(s) for s in np.ravel(scores)]
    return [str(fm.ids[pool_rows[i]]) for i in picked], scores


def make_batch(ws: Workspace, config: LoopConfig, round_number: int, ids: list[str]) -> Batch:
    """The batch as annotators see it: files plus the learner's guesses to correct."""
    state = load_learner(ws, config.name, round_number)
    if config.task == "detection":
        return detection.make_batch(ws, config, state, round_number, ids)
    paths = store.filepaths(ws.dataset(config), ids)
    classes = set(ws.ledger.loop(config.name).get("classes", []))
    if own_model.scored_by_model(config):  # pre-filled with the team's model's guesses
        items = own_model.batch_items(ws, config, ids, paths)
        classes |= set(config.scorer.classes)
    elif state is None:  # cold start: nothing to pre-fill
        items = tuple(BatchItem(sid, path) for sid, path in zip(ids, paths, strict=True))
    else:
        predicted, confidence = learners.predict(state, ws.features(config).take(ids))
        items = tuple(
            BatchItem(sid, path, str(p), float(c))
            for sid, path, p, c in zip(ids, paths, predicted, confidence, strict=True)
        )
        classes |= set(state.classes)
    return Batch(config.name, round_number, items, tuple(sorted(classes)))


def export(ws: Workspace, loop: str, round_number: int, force_new: bool = False) -> dict[str, Any]:
    """Send the batch to the annotation backend (state ``exported``).

    A reference saved by an earlier, interrupted export is handed back to the backend, which
    reuses what it created. ``force_new`` re-exports a batch whose annotation task was deleted
    (the round must still be in flight; its state is kept).
    """
    doc = ws.ledger.round(loop, round_number)
    if doc["state"] != QUERIED and not force_new:
        return doc.get("backend", {})
    if force_new and doc["state"] not in (QUERIED, EXPORTED, WAITING):
        raise LedgerError(
            f"loop {loop!r} round {round_number} is {doc['state']!r}; only a round still out "
            "for annotation can be re-exported"
        )
    previous = (doc.get("backend") or {}).get("ref")
    config = ws.config(loop)
    if recovery.drop_deleted(ws, loop, round_number, ws.dataset(config)):
        doc = ws.ledger.round(loop, round_number)
    batch = make_batch(ws, config, round_number, doc["queried_ids"])
    backend = ws.backend(config)

    def save_ref(ref: dict[str, Any]) -> None:
        ws.ledger.update_round(loop, round_number, backend={"kind": backend.kind, "ref": ref})

    ref = backend.export(batch, save_ref, ref=previous, force_new=force_new)
    save_ref(ref)
    if doc["state"] == QUERIED:
        ws.ledger.set_state(loop, round_number, EXPORTED)
    return {"kind": backend.kind, "ref": ref}


def annotation_progress(ws: Workspace, loop: str, round_number: int) -> dict[str, Any]:
    """How much of the round's batch is annotated; marks the round ``waiting`` if unfinished."""
    doc = ws.ledger.round(loop, round_number)
    if doc["state"] not in (EXPORTED, WAITING):
        return {"state": doc["state"], "done": None, "total": None, "finished": True}
    config = ws.config(loop)
    prog = ws.backend(config).progress(doc["backend"]["ref"])
    report = {
        "state": doc["state"],
        "done": prog.done,
        "total": prog.total,
        "finished": prog.finished,
    }
    if not prog.finished:
        ws.ledger.set_state(loop, round_number, WAITING, progress=report)
        report["state"] = WAITING
    return report


def finish_review(
    ws: Workspace, loop: str, round_number: int | None = None, by: str = "cli"
) -> dict[str, Any]:
    """Record that the in-App review of a round is finished (the round in flight by default).

    Until this is recorded the review backend reports the batch unfinished, so no step and no
    schedule takes unmarked samples as accepted; recording it twice keeps the first record.
    """
    doc = ws.ledger.in_flight(loop) if round_number is None else ws.ledger.round(loop, round_number)
    if doc is None:
        raise LedgerError(
            f"loop {loop!r} has no round in flight to finish; 'alflow step {loop}' (or the "
            "App's query operator) queries the next batch"
        )
    number = doc["round"]
    backend = doc.get("backend") or {}
    if backend.get("kind") != "app" or doc["state"] not in (EXPORTED, WAITING):
        raise LedgerError(
            f"loop {loop!r} round {number} is {doc['state']!r} with backend "
            f"{backend.get('kind') or 'none yet'!r}; only a round out for review in the "
            "FiftyOne App can be finished this way"
        )
    record = backend["ref"].get("review_finished")
    if not record:
        record = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "by": by}
        ws.ledger.update_round(loop, number, **{"backend.ref.review_finished": record})
    return {"loop": loop, "round": number, "review_finished": record}


def _label_values(collected: Collected, round_number: int, backend_kind: str) -> dict[str, Any]:
    """Classifications with provenance; the backend kind is the source, whatever it reports."""
    values = {}
    for a in collected.answers:
        extra = {k: v for k, v in a.provenance.items() if k != "source"}
        values[a.sample_id] = store.classification(
            a.label, **lab.provenance(backend_kind, round_number, **extra)
        )
    return values


def ingest(ws: Workspace, loop: str, round_number: int, partial: bool = False) -> dict[str, Any]:
    """Bring the annotators' labels into the loop's label field (state ``ingested``)."""
    doc = ws.ledger.round(loop, round_number)
    if doc["state"] in (INGESTED, TAUGHT):
        return doc.get("ingest", {})
    if doc["state"] not in (EXPORTED, WAITING):
        raise LedgerError(
            f"loop {loop!r} round {round_number} is {doc['state']!r}; only an exported round "
            "can be ingested"
        )
    config = ws.config(loop)
    backend = ws.backend(config)
    collected = backend.collect(doc["backend"]["ref"], partial=partial)
    if recovery.drop_deleted(ws, loop, round_number, ws.dataset(config)):
        collected = _without_dropped(
            collected, set(ws.ledger.round(loop, round_number)["queried_ids"])
        )
    detecting = config.task == "detection"
    values = (detection.answer_values if detecting else _label_values)(
        collected, round_number, backend.kind
    )
    store.write_labels(ws.dataset(config), naming.label_field(loop), values)
    known = set(ws.ledger.loop(loop).get("classes", []))
    answered = (
        detection.answered_classes(collected) if detecting else {a.label for a in collected.answers}
    )
    new_classes = sorted(answered - known)
    if new_classes:
        log.warning(
            "loop %r round %d: new classes %s join the class map", loop, round_number, new_classes
        )
        ws.ledger.update_loop(loop, classes=sorted(known | set(new_classes)))
    report = {
        "answered": [a.sample_id for a in collected.answers],
        "changed": sum(1 for a in collected.answers if a.provenance.get("changed")),
        "unresolved": [asdict(u) for u in collected.unresolved],
        "pending": list(collected.pending),
        "new_classes": new_classes,
    }
    if detecting:
        report["boxes"] = detection.ingest_counts(collected)
    ws.ledger.set_state(loop, round_number, INGESTED, ingest=report)
    return report


def _without_dropped(collected: Collected, kept: set[str]) -> Collected:
    """The collected work without samples that were deleted from the dataset meanwhile."""
    return Collected(
        answers=tuple(a for a in collected.answers if a.sample_id in kept),
        unresolved=tuple(u for u in collected.unresolved if u.sample_id in kept),
        pending=tuple(p for p in collected.pending if p in kept),
    )


def teach_round(ws: Workspace, loop: str, round_number: int) -> dict[str, Any]:
    """Teach the round's new labels, checkpoint, evaluate, write predictions (state ``taught``)."""
    doc = ws.ledger.round(loop, round_number)
    if doc["state"] == TAUGHT:
        return summarize(doc)
    if doc["state"] != INGESTED:
        raise LedgerError(
            f"loop {loop!r} round {round_number} is {doc['state']!r}; ingest it before teaching"
        )
    config = ws.config(loop)
    if own_model.scored_by_model(config):  # the team's job refits; None: still waiting
        fields = own_model.retrain(ws, config, round_number)
        if fields is None:
            return summarize(doc)
    elif config.task == "detection":  # the box learner is refitted on every labelled image
        fields = detection.advance(ws, config, round_number)
    else:
        state = load_learner(ws, loop, round_number)
        known = labelled(ws.dataset(config), loop)
        ids = [sid for sid in doc["ingest"]["answered"] if sid in known]
        fields = advance_learner(ws, config, state, known, ids, round_number)
    ws.ledger.set_state(loop, round_number, TAUGHT, **fields)
    apply_stop_rules(ws, config)
    return summarize(ws.ledger.round(loop, round_number))


def cancel(ws: Workspace, loop: str, round_number: int) -> dict[str, Any]:
    """Withdraw an outstanding batch; its samples return to the pool (see alflow.loop.recovery)."""
    doc = ws.ledger.round(loop, round_number)
    if doc["state"] in TERMINAL:
        return summarize(doc)
    return summarize(recovery.end_round(ws, loop, round_number, CANCELLED))


def readiness(ws: Workspace, loop: str) -> tuple[bool, str]:
    """Whether stepping ``loop`` now makes progress; if not, what it waits on."""
    doc = ws.ledger.loop(loop)
    if doc["status"] != ACTIVE:
        return False, f"loop is {doc['status']}"
    lock = locks.live_lock(doc.get("lock"))
    if lock:
        return False, f"run {lock['owner']} is working on it"
    current = ws.ledger.in_flight(loop)
    if current is not None and (waits := own_model.waiting_for_predictions(ws, current)):
        return False, waits
    if current is None or current["state"] in (QUERIED, INGESTED):
        return True, "ready"
    try:
        report = annotation_progress(ws, loop, current["round"])
    except BackendError as exc:
        # one loop's lost or unreachable annotation task must not stop the scheduled advance of
        # every other loop: report it as what this loop waits on (the fix is in the message)
        log.warning("loop %r round %d: %s", loop, current["round"], exc)
        return False, f"round {current['round']} cannot be checked: {exc}"
    if report["finished"]:
        return True, "annotation finished"
    if (current.get("backend") or {}).get("kind") == "app":
        return False, (
            f"round {current['round']} is under review in the FiftyOne App until the review "
            f"is declared finished ('alflow review finish {loop}' or the App's update)"
        )
    return False, (
        f"round {current['round']} waits for annotators: "
        f"{report['done']}/{report['total']} finished"
    )
