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

from alflow import (
    freshness,
    learners,
    locks,
    naming,
    predictions,
    recovery,
    review,
    store,
    versions,
)
from alflow import labels as lab
from alflow import progress as reporting
from alflow.backends import Batch, BatchItem, Collected
from alflow.config import FieldLabels, LoopConfig, TagLabels
from alflow.errors import BackendError, DatasetError, LedgerError, PoolExhaustedError
from alflow.ledger import (
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
from alflow.seeds import round_seed
from alflow.semi_supervised import cached_pool, is_semi_supervised
from alflow.settings import checkpoints_dir
from alflow.strategies import COLD_START_STRATEGIES, bind_strategy
from alflow.workspace import Workspace

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- loop creation
def read_initial_labels(dataset, config: LoopConfig) -> tuple[dict[str, str], str]:
    """Initial ``{id: label}`` from the configured source, and a name for that source."""
    source = config.initial_labels
    if source is None:
        return {}, "none"
    if isinstance(source, FieldLabels):
        store.require_fields(dataset, [source.field], "initial-label")
        values = dict(
            zip(dataset.values("id"), dataset.values(f"{source.field}.label"), strict=True)
        )
        return lab.labels_from_field(values), f"field {source.field!r}"
    if isinstance(source, TagLabels):
        return lab.labels_from_tags(store.read_tags(dataset), source.classes), "class tags"
    raise TypeError(f"unknown label source {source!r}")


def declared_classes(config: LoopConfig, initial: dict[str, str]) -> list[str]:
    """Classes seen in the initial labels plus those a tag source declares."""
    declared = (
        set(config.initial_labels.classes)
        if isinstance(config.initial_labels, TagLabels)
        else set()
    )
    return sorted(set(initial.values()) | declared)


def register_loop(ws: Workspace, config: LoopConfig) -> dict[str, Any]:
    """Validate a new loop against its dataset, store it, and write its split and labels.

    Everything is validated (fields, initial labels, every feature value) before anything is
    written. The loop is stored as ``creating`` until round 0 is taught; a failure while its
    fields are written removes it again, and a create that was killed part-way is started over
    by the next one, so a retried call does the same work once more and ends in the same state.
    """
    dataset = ws.dataset(config)
    store.require_fields(dataset, config.features.fields, "feature")
    if config.ground_truth_field:
        store.require_fields(dataset, [config.ground_truth_field], "ground-truth")
    initial, source = read_initial_labels(dataset, config)
    cold = config.strategy.name in COLD_START_STRATEGIES
    lab.require_initial_labels(initial, f"dataset {config.dataset!r} ({source})", cold)
    ids = store.sample_ids(dataset)
    if config.eval_tag:
        eval_ids = set(dataset.match_tags(config.eval_tag).values("id")) - set(initial)
    else:
        eval_ids = lab.draw_eval_split(
            list(ids), config.eval_fraction, config.random_state, initial
        )
    fm = ws.features(config)  # NaN, inf, missing, ragged or text values fail here, before writes
    discard_unfinished(ws, config.name)
    ws.ledger.create_loop(
        config.name,
        config.model_dump(mode="json"),
        {"classes": declared_classes(config, initial)},
        status=CREATING,
    )
    try:
        with freshness.own_write(fm.path):  # the split touches every sample, no feature
            _write_split_and_labels(ws, config, dataset, ids, eval_ids, initial, source)
    except BaseException:
        discard_unfinished(ws, config.name)
        raise
    return {
        "loop": config.name,
        "initial_labels": len(initial),
        "eval": len(eval_ids),
        "classes": declared_classes(config, initial),
    }


def _write_split_and_labels(ws, config, dataset, ids, eval_ids, initial, source) -> None:
    split = {sid: (lab.EVAL if sid in eval_ids else lab.POOL) for sid in ids}
    with reporting.step(f"marking the pool/eval split of {config.name!r}", len(split)) as report:
        store.write_strings(
            dataset, naming.split_field(config.name), split, on_chunk=report.advance
        )
    prov = lab.provenance(f"initial:{source}", 0)
    store.write_classifications(
        dataset,
        naming.label_field(config.name),
        {sid: store.classification(label, **prov) for sid, label in initial.items()},
    )


def discard_unfinished(ws: Workspace, loop: str) -> bool:
    """Remove what a create that did not reach round 0 left of ``loop``; True if it did."""
    if not ws.ledger.loop_exists(loop) or ws.ledger.loop(loop)["status"] != CREATING:
        return False
    log.warning("loop %r was not completely created; removing what its creation wrote", loop)
    delete_loop(ws, loop)
    return True


def delete_loop(ws: Workspace, loop: str, missing_ok: bool = False) -> dict[str, Any]:
    """Remove a loop's fields, ledger records and checkpoints (its dataset stays)."""
    if missing_ok and not ws.ledger.loop_exists(loop):
        return {"loop": loop, "fields_deleted": []}
    doc = ws.ledger.loop(loop)
    deleted: list[str] = []
    try:
        dataset = store.open_dataset(doc["config"]["dataset"])
        deleted = store.clear_fields(dataset, naming.loop_fields(loop))
        review.clear_loop(dataset, loop)
    except DatasetError:
        log.warning("dataset of loop %r is gone; removing the ledger records only", loop)
    ws.ledger.delete_loop(loop)
    for path in checkpoints_dir(loop).glob("*"):
        path.unlink()
    return {"loop": loop, "fields_deleted": deleted}


# ----------------------------------------------------------------------------- reading state
def labelled(dataset, loop: str, include_excluded: bool = False) -> dict[str, str]:
    """The labels the loop learns from; ``include_excluded`` adds rolled-back human labels.

    Excluded labels are not learned from, but their samples never return to the pool: a human
    label is never overwritten by a later query.
    """
    field = naming.label_field(loop)
    if not store.has_fields(dataset, [field]):
        return {}
    view = dataset.exists(field)
    ids = view.values("id")
    names = view.values(f"{field}.label")
    excluded = view.values(f"{field}.excluded")
    return {
        i: str(n)
        for i, n, x in zip(ids, names, excluded, strict=True)
        if n and (include_excluded or not x)
    }


def eval_ids(dataset, loop: str) -> list[str]:
    field = naming.split_field(loop)
    return dataset.match({field: lab.EVAL}).values("id")


def base_round(ws: Workspace, loop: str, before: int) -> dict[str, Any]:
    """The latest taught round before ``before``: its learner is the one to continue from."""
    for doc in reversed(ws.ledger.rounds(loop)):
        if doc["round"] < before and doc["state"] == TAUGHT and doc.get("checkpoint"):
            return doc
    raise LedgerError(
        f"loop {loop!r} has no taught round with a learner before round {before}; "
        "run the create-loop step first"
    )


def load_learner(ws: Workspace, loop: str, before: int) -> learners.LearnerState | None:
    """The learner to continue from, or None for a cold-start loop that has none yet."""
    try:
        ckpt = base_round(ws, loop, before)["checkpoint"]
    except LedgerError:
        if ws.config(loop).strategy.name in COLD_START_STRATEGIES:
            return None
        raise
    return learners.load_checkpoint(ckpt["path"], ckpt["sha256"], ckpt.get("versions"))


def checkpoint(state: learners.LearnerState, loop: str, round_number: int) -> dict[str, Any]:
    """Save the round's learner; the ledger entry records the versions that wrote it."""
    path = checkpoints_dir(loop) / f"round-{round_number:03d}.joblib"
    sha256 = learners.save_checkpoint(state, path)
    return {"path": str(path), "sha256": sha256, "versions": versions.environment()}


# ----------------------------------------------------------------------------- learning
def evaluate(ws: Workspace, config: LoopConfig, state: learners.LearnerState) -> dict[str, Any]:
    """Held-out accuracy and macro-F1 against ground truth, plus the labelled count."""
    with predictions.session(config, state) as scorer:
        return predictions.evaluate(ws, config, state.n_labels, scorer)


def write_predictions(
    ws: Workspace, config: LoopConfig, state: learners.LearnerState, round_number: int
) -> int:
    """Write back the learner's predictions that changed (see :mod:`alflow.predictions`)."""
    with predictions.session(config, state) as scorer:
        return predictions.write_back(ws, config, scorer, round_number)


def fit_if_possible(
    ws: Workspace, config: LoopConfig, known: dict[str, str], round_number: int
) -> learners.LearnerState | None:
    """A learner fitted on every known label; None while fewer than two classes are known.

    Only a cold-start loop gets here without two classes (creation refuses the others).
    """
    if len(set(known.values())) < 2:
        return None
    fm = ws.features(config)
    ids = [str(i) for i in fm.ids if i in known]  # dataset order: reproducible fits
    X = fm.take(ids)
    y = np.asarray([known[i] for i in ids], dtype=str)
    pool = None
    if is_semi_supervised(config.estimator):  # every sample but the held-out ones, by id
        pool = cached_pool(fm.path, eval_ids(ws.dataset(config), config.name))
    return learners.fit_learner(
        config.estimator,
        config.strategy,
        X,
        y,
        ids,
        config.random_state,
        round_number=round_number,
        unlabelled=pool,
    )


def fit_initial(ws: Workspace, loop: str) -> dict[str, Any]:
    """Round 0: fit the learner on the initial labels, checkpoint and evaluate it."""
    existing = ws.ledger.get_round(loop, 0)
    if existing is None:
        config = ws.config(loop)
        dataset = ws.dataset(config)
        known = labelled(dataset, loop)
        fields = advance_learner(ws, config, None, known, [], 0)
        ws.ledger.insert_round(
            loop, 0, TAUGHT, strategy=config.strategy.name, batch_size=0, queried_ids=[], **fields
        )
    if ws.ledger.loop(loop)["status"] == CREATING:  # round 0 completes the creation
        ws.ledger.update_loop(loop, status=ACTIVE)
    return summarize(ws.ledger.round(loop, 0))


# ----------------------------------------------------------------------------- the round
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


def queued_ids(ws: Workspace, loop: str, except_round: int | None = None) -> set[str]:
    """Samples out for annotation in rounds still in flight."""
    out: set[str] = set()
    for doc in ws.ledger.rounds(loop):
        if doc["state"] not in TERMINAL and doc["round"] != except_round:
            out.update(doc.get("queried_ids", []))
    return out


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
        labelled(dataset, loop, include_excluded=True),
        queued_ids(ws, loop),
    )
    n_pool = int(mask.sum())
    if n_pool < n:
        raise PoolExhaustedError(
            f"loop {loop!r} round {round_number}: pool exhausted: {n_pool} unlabelled samples "
            f"left, {n} requested; lower batch_size or add samples"
        )
    state = load_learner(ws, loop, round_number)
    pool_rows = np.flatnonzero(mask)
    X_pool = np.asarray(fm.X[pool_rows])
    rs = round_seed(config.random_state, round_number)
    if state is None:  # cold start: the strategy needs no model
        strategy = bind_strategy(config.strategy)
        picked, scores = strategy(None, X_pool, n_instances=n, random_state=rs)
    else:
        picked, scores = learners.select_batch(state, X_pool, n, rs)
    picked = np.asarray(picked).ravel()
    scores = None if scores is None else [float(s) for s in np.ravel(scores)]
    ids = [str(fm.ids[pool_rows[i]]) for i in picked]
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


def make_batch(ws: Workspace, config: LoopConfig, round_number: int, ids: list[str]) -> Batch:
    """The batch as annotators see it: files plus the learner's guesses to correct."""
    state = load_learner(ws, config.name, round_number)
    paths = store.filepaths(ws.dataset(config), ids)
    classes = set(ws.ledger.loop(config.name).get("classes", []))
    if state is None:  # cold start: nothing to pre-fill
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


def progress(ws: Workspace, loop: str, round_number: int) -> dict[str, Any]:
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
    store.write_classifications(
        ws.dataset(config),
        naming.label_field(loop),
        _label_values(collected, round_number, backend.kind),
    )
    known = set(ws.ledger.loop(loop).get("classes", []))
    new_classes = sorted({a.label for a in collected.answers} - known)
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
    ws.ledger.set_state(loop, round_number, INGESTED, ingest=report)
    return report


def _without_dropped(collected: Collected, kept: set[str]) -> Collected:
    """The collected work without samples that were deleted from the dataset meanwhile."""
    return Collected(
        answers=tuple(a for a in collected.answers if a.sample_id in kept),
        unresolved=tuple(u for u in collected.unresolved if u.sample_id in kept),
        pending=tuple(p for p in collected.pending if p in kept),
    )


def teach(ws: Workspace, loop: str, round_number: int) -> dict[str, Any]:
    """Teach the round's new labels, checkpoint, evaluate, write predictions (state ``taught``)."""
    doc = ws.ledger.round(loop, round_number)
    if doc["state"] == TAUGHT:
        return summarize(doc)
    if doc["state"] != INGESTED:
        raise LedgerError(
            f"loop {loop!r} round {round_number} is {doc['state']!r}; ingest it before teaching"
        )
    config = ws.config(loop)
    state = load_learner(ws, loop, round_number)
    known = labelled(ws.dataset(config), loop)
    ids = [sid for sid in doc["ingest"]["answered"] if sid in known]
    fields = advance_learner(ws, config, state, known, ids, round_number)
    ws.ledger.set_state(loop, round_number, TAUGHT, **fields)
    apply_stop_rules(ws, config)
    return summarize(ws.ledger.round(loop, round_number))


def advance_learner(
    ws: Workspace,
    config: LoopConfig,
    state: learners.LearnerState | None,
    known: dict[str, str],
    ids: list[str],
    round_number: int,
) -> dict[str, Any]:
    """Teach ``ids`` (or, with no learner yet, fit on every known label), then checkpoint,
    evaluate and write predictions; returns the round's ``checkpoint`` and ``metrics``."""
    if state is None:  # cold start: the first fit, once two classes are known
        state = fit_if_possible(ws, config, known, round_number)
    elif ids := [*ids, *untaught(state, known, ids)]:
        X = ws.features(config).take(ids)
        learners.teach(state, X, np.asarray([known[i] for i in ids], dtype=str), ids)
    if state is None:
        return {"checkpoint": None, "metrics": {"labelled": len(known)}}
    state.round_number = round_number
    return {
        "checkpoint": checkpoint(state, config.name, round_number),
        "metrics": predictions.score_round(ws, config, state, round_number),
    }


def untaught(state: learners.LearnerState, known: dict[str, str], ids: list[str]) -> list[str]:
    """Known labels the learner has not been taught and ``ids`` do not teach, in dataset order.

    These are the ingested labels of a round that was failed or cancelled after its ingest:
    they are kept, and the next teach takes them.
    """
    seen = set(state.training_ids) | set(ids)
    return [sid for sid in known if sid not in seen]


def cancel(ws: Workspace, loop: str, round_number: int) -> dict[str, Any]:
    """Withdraw an outstanding batch; its samples return to the pool (see alflow.recovery)."""
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
    if current is None or current["state"] in (QUERIED, INGESTED):
        return True, "ready"
    try:
        report = progress(ws, loop, current["round"])
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


# ----------------------------------------------------------------------------- history edits
def _require_idle(ws: Workspace, loop: str, action: str) -> None:
    current = ws.ledger.in_flight(loop)
    if current is not None:
        raise LedgerError(
            f"loop {loop!r} has round {current['round']} in flight ({current['state']}); finish "
            f"it ('alflow step {loop}') or end it ('alflow round cancel {loop} "
            f"{current['round']}', or 'alflow round fail ...') before you {action}"
        )


def _set_excluded(dataset, loop: str, ids: list[str], excluded: bool) -> None:
    if ids:
        field = naming.label_field(loop)
        dataset.set_values(f"{field}.excluded", dict.fromkeys(ids, excluded), key_field="id")


def _label_rounds(dataset, loop: str) -> list[tuple[str, int, bool]]:
    field = naming.label_field(loop)
    view = dataset.exists(field)
    rounds_ = view.values(f"{field}.round")
    excluded = view.values(f"{field}.excluded")
    return [
        (i, int(r or 0), bool(x))
        for i, r, x in zip(view.values("id"), rounds_, excluded, strict=True)
    ]


def rollback(ws: Workspace, loop: str, to_round: int) -> dict[str, Any]:
    """Start a new round from round ``to_round``'s learner; later labels leave training.

    No label is deleted and no round number is reused: the labels of later rounds are marked
    ``excluded`` (still visible; :func:`reinclude` brings them back) and a new round, recorded
    with ``kind: rollback``, carries round ``to_round``'s learner forward.
    """
    finish_pending_edit(ws, loop)
    _require_idle(ws, loop, "roll back")
    target = ws.ledger.round(loop, to_round)
    if target["state"] != TAUGHT or not target.get("checkpoint"):
        raise LedgerError(
            f"loop {loop!r} round {to_round} is {target['state']!r} without a learner; roll back "
            "to a taught round ('alflow history' lists them)"
        )
    config = ws.config(loop)
    dataset = ws.dataset(config)
    later = [i for i, r, x in _label_rounds(dataset, loop) if r > to_round and not x]
    ckpt = target["checkpoint"]
    learners.load_checkpoint(ckpt["path"], ckpt["sha256"], ckpt.get("versions"))
    pending = {"kind": "rollback", "to_round": to_round, "ids": later}
    number = ws.ledger.allocate_round(loop, pending=pending)
    _complete_rollback(ws, loop, {**pending, "round": number})
    return {**summarize(ws.ledger.round(loop, number)), "excluded": len(later)}


def _complete_rollback(ws: Workspace, loop: str, edit: dict[str, Any]) -> None:
    """Do (or redo, after a crash) the rollback ``edit``; every part is idempotent."""
    number, to_round, later = edit["round"], edit["to_round"], edit["ids"]
    config = ws.config(loop)
    dataset = ws.dataset(config)
    target = ws.ledger.round(loop, to_round)["checkpoint"]
    state = learners.load_checkpoint(target["path"], target["sha256"], target.get("versions"))
    _set_excluded(dataset, loop, later, True)
    state.round_number = number
    fields = {
        "kind": "rollback",
        "rolled_back_to": to_round,
        "excluded_ids": later,
        "queried_ids": [],
        "checkpoint": checkpoint(state, loop, number),
        "metrics": predictions.score_round(ws, config, state, number),
    }
    ws.ledger.insert_round(loop, number, TAUGHT, **fields)
    ws.ledger.update_loop(loop, status=ACTIVE, done_reason=None)
    ws.ledger.clear_pending_edit(loop, number)


def finish_pending_edit(ws: Workspace, loop: str) -> int | None:
    """Complete a rollback or re-include that was interrupted; returns its round, if any.

    The edit's round number and everything it changes were stored with the number, so an
    interrupted edit is redone the same way: it either did not happen (nothing was allocated)
    or it completes here, before anything else reads the loop's labels or learner.
    """
    edit = ws.ledger.loop(loop).get("pending_edit")
    if not edit:
        return None
    log.warning(
        "loop %r: completing the interrupted %s (round %d)", loop, edit["kind"], edit["round"]
    )
    if ws.ledger.get_round(loop, edit["round"]) is None:
        complete = _complete_rollback if edit["kind"] == "rollback" else _complete_reinclude
        complete(ws, loop, edit)
    ws.ledger.clear_pending_edit(loop, edit["round"])
    return int(edit["round"])


def reinclude(ws: Workspace, loop: str, from_rounds: list[int]) -> dict[str, Any]:
    """Bring excluded labels of ``from_rounds`` back into training, as a new taught round."""
    finish_pending_edit(ws, loop)
    _require_idle(ws, loop, "re-include labels")
    config = ws.config(loop)
    dataset = ws.dataset(config)
    wanted = set(from_rounds)
    ids = [i for i, r, x in _label_rounds(dataset, loop) if x and r in wanted]
    if not ids:
        raise LedgerError(
            f"loop {loop!r} has no excluded labels from rounds {sorted(wanted)}; "
            "'alflow history' shows which rounds a rollback excluded"
        )
    pending = {"kind": "reinclude", "ids": ids}
    number = ws.ledger.allocate_round(loop, pending=pending)
    _complete_reinclude(ws, loop, {**pending, "round": number})
    return summarize(ws.ledger.round(loop, number))


def _complete_reinclude(ws: Workspace, loop: str, edit: dict[str, Any]) -> None:
    """Do (or redo, after a crash) the re-include ``edit``; every part is idempotent."""
    number, ids = edit["round"], edit["ids"]
    config = ws.config(loop)
    dataset = ws.dataset(config)
    _set_excluded(dataset, loop, ids, False)
    known = labelled(dataset, loop)
    state = load_learner(ws, loop, number)
    fields = advance_learner(ws, config, state, known, ids, number)
    ws.ledger.insert_round(
        loop, number, TAUGHT, kind="reinclude", reincluded_ids=ids, queried_ids=[], **fields
    )
    ws.ledger.clear_pending_edit(loop, number)


# ----------------------------------------------------------------------------- stop rules
def stop_reason(config: LoopConfig, taught: list[dict[str, Any]]) -> str | None:
    """Why the loop is done after these taught rounds, or None to go on."""
    rules = config.stop
    if not taught:
        return None
    last = taught[-1]
    n_labels = last.get("metrics", {}).get("labelled", 0)
    if rules.label_budget is not None and n_labels >= rules.label_budget:
        return f"label budget reached ({n_labels} >= {rules.label_budget})"
    rounds_done = sum(1 for d in taught if d["round"] > 0 and not d.get("kind"))
    if rules.max_rounds is not None and rounds_done >= rules.max_rounds:
        return f"maximum rounds reached ({rounds_done})"
    if rules.plateau_rounds:
        accs = [d.get("metrics", {}).get("accuracy") for d in taught]
        accs = [a for a in accs if a is not None]
        if len(accs) > rules.plateau_rounds:
            gain = accs[-1] - max(accs[: -rules.plateau_rounds])
            if gain < rules.plateau_delta:
                return (
                    f"accuracy plateau: gained {gain:+.4f} over the last "
                    f"{rules.plateau_rounds} rounds (< {rules.plateau_delta})"
                )
    return None


def update_stop_rules(ws: Workspace, loop: str, **changes: Any) -> dict[str, Any]:
    """Change a loop's stop rules; a done loop whose new rules no longer stop it is active."""
    config = ws.config(loop)
    stop = config.stop.model_copy(update={k: v for k, v in changes.items() if v is not None})
    config = LoopConfig.model_validate({**config.model_dump(), "stop": stop.model_dump()})
    ws.ledger.update_loop(loop, config=config.model_dump(mode="json"))
    doc = ws.ledger.loop(loop)
    taught = [d for d in ws.ledger.rounds(loop) if d["state"] == TAUGHT]
    reason = stop_reason(config, taught)
    if doc["status"] == DONE and reason is None:
        ws.ledger.update_loop(loop, status=ACTIVE, done_reason=None)
    elif reason is not None:
        ws.ledger.update_loop(loop, status=DONE, done_reason=reason)
    return {"stop": stop.model_dump(), "status": ws.ledger.loop(loop)["status"], "reason": reason}


def apply_stop_rules(ws: Workspace, config: LoopConfig) -> None:
    taught = [d for d in ws.ledger.rounds(config.name) if d["state"] == TAUGHT]
    reason = stop_reason(config, taught)
    if reason:
        log.info("loop %r is done: %s", config.name, reason)
        ws.ledger.update_loop(config.name, status=DONE, done_reason=reason)


# ----------------------------------------------------------------------------- reports
def summarize(doc: dict[str, Any]) -> dict[str, Any]:
    """A small, JSON-able view of a round record for task results and tables."""
    metrics = doc.get("metrics", {})
    history = doc.get("history", [])
    seconds = None
    if len(history) >= 2:
        seconds = (history[-1]["at"] - history[0]["at"]).total_seconds()
    return {
        "loop": doc["loop"],
        "round": doc["round"],
        "state": doc["state"],
        "queried": len(doc.get("queried_ids", [])),
        "labelled": metrics.get("labelled"),
        "accuracy": metrics.get("accuracy"),
        "macro_f1": metrics.get("macro_f1"),
        "changed": doc.get("ingest", {}).get("changed"),
        "seconds": seconds,
    }
