"""A round driven by a team's own model: where its probabilities come from, and who refits.

The round, ledger, backends and reports are alflow's learners' own (:mod:`alflow.rounds.steps`);
a loop whose ``scorer`` is ``model_predictions`` changes only two things there:

* **query** (:func:`select_batch`): the pool's probabilities are read from the predictions
  field (:mod:`alflow.learning.model_predictions`), once they are checked fresh: every pool
  sample's predictions must have been written after the last ingest (FiftyOne's per-sample
  ``last_modified_at``; alflow's own writes to pool samples do not move it), unless the user
  vouched for them with ``alflow predictions ready LOOP``;
* **teach** (:func:`retrain`): the team's job retrains the model and rewrites the field (a
  deployment run, an entry point), or, with none, the round stays ``ingested``, "waiting for new
  predictions", until the field is rewritten or vouched for; then the model is evaluated on the
  held-out split from its own predictions and the round is ``taught`` (no checkpoint: the model
  is the team's).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np

from alflow.backends import BatchItem
from alflow.boxes.predictions import BoxPredictions
from alflow.config import naming
from alflow.config.loop import LoopConfig
from alflow.config.own_model import DeploymentRetrain, EntryPointRetrain, ModelPredictionsConfig
from alflow.data import detections as dets
from alflow.data import labels as lab
from alflow.data import store
from alflow.errors import LabelError, LedgerError
from alflow.learning import box_evaluation, model_predictions
from alflow.loop.workspace import Workspace
from alflow.rounds import retraining
from alflow.rounds.records import eval_ids, labelled, labelled_ids, queued_ids
from alflow.state.ledger import INGESTED
from alflow.strategies.pool import PoolRows

WAITING_NOTE = "waiting for new predictions"


def scored_by_model(config: LoopConfig) -> bool:
    """Whether the loop's pool is scored from a team's own model's predictions."""
    return isinstance(config.scorer, ModelPredictionsConfig)


def last_ingest(ws: Workspace, loop: str) -> dict[str, Any] | None:
    """The latest round whose labels were ingested: its number, the time, and whether the user
    vouched for the predictions since (``alflow predictions ready``)."""
    for doc in reversed(ws.ledger.rounds(loop)):
        times = [h["at"] for h in doc.get("history", []) if h["state"] == INGESTED]
        if times:
            ready = (doc.get("retrain") or {}).get("ready")
            return {"round": doc["round"], "at": times[-1], "ready": ready}
    return None


def stale_ids(dataset, ids: list[str], since: datetime) -> list[str]:
    """Those of ``ids`` whose sample was last written at or before ``since``."""
    fresh = set(store.ids_where(dataset, {"last_modified_at": {"$gt": since}}))
    return [sid for sid in ids if sid not in fresh]


def pool_ids(ws: Workspace, config: LoopConfig) -> list[str]:
    """The samples the next query may pick, in cache order."""
    fm = ws.features(config)
    dataset = ws.dataset(config)
    mask = lab.pool_mask(
        fm.ids,
        eval_ids(dataset, config.name),
        labelled_ids(dataset, config.name, include_excluded=True),
        queued_ids(ws, config.name),
    )
    return [str(i) for i in fm.ids[mask]]


def freshness(ws: Workspace, config: LoopConfig, ids: list[str]) -> str | None:
    """Why the predictions of pool samples ``ids`` cannot be used yet (one line), or None."""
    last = last_ingest(ws, config.name)
    if last is None or last["ready"]:
        return None
    stale = stale_ids(ws.dataset(config), ids, last["at"])
    if not stale:
        return None
    at = last["at"].replace(tzinfo=UTC) if last["at"].tzinfo is None else last["at"]
    return (
        f"predictions field {config.scorer.field!r} is stale on {len(stale)} of {len(ids)} "
        f"pool samples: written before round {last['round']}'s labels were ingested "
        f"({at.isoformat(timespec='seconds')}); retrain the model and rewrite them, or accept "
        f"them as they are with 'alflow predictions ready {config.name}'"
    )


def require_fresh(ws: Workspace, config: LoopConfig, ids: list[str]) -> None:
    """Raise LabelError (one line) unless the predictions of pool samples ``ids`` are fresh."""
    problem = freshness(ws, config, ids)
    if problem:
        raise LabelError(problem)


def read_fresh(ws: Workspace, config: LoopConfig, ids: list[str]) -> BoxPredictions:
    """The model's predictions of pool samples ``ids`` (in that order), once checked fresh:
    one whole-image box per sample, or a detection loop's boxes."""
    require_fresh(ws, config, ids)
    return model_predictions.read_pool(ws.dataset(config), config.scorer, ids, config.task)


def select_batch(
    ws: Workspace, config: LoopConfig, fm, pool_rows: np.ndarray, n: int, random_state: int
) -> tuple[np.ndarray, np.ndarray]:
    """The round's batch from the model's predictions of the pool (fresh ones only)."""
    X_pool = PoolRows(fm.X, pool_rows)
    if config.strategy.name == "random":
        return model_predictions.select(config.strategy, None, X_pool, n, random_state)
    pred = read_fresh(ws, config, [str(fm.ids[r]) for r in pool_rows])
    return model_predictions.select(config.strategy, pred, X_pool, n, random_state)


def batch_items(
    ws: Workspace, config: LoopConfig, ids: list[str], paths: list[str]
) -> tuple[BatchItem, ...]:
    """The batch as annotators see it: each sample with the model's guess, where it has one."""
    dataset = ws.dataset(config)
    field = config.scorer.field
    labels = dataset.values(f"{field}.label")
    confidences = dataset.values(f"{field}.confidence")
    guesses = {
        sid: (label, None if c is None else float(c))
        for sid, label, c in zip(dataset.values("id"), labels, confidences, strict=True)
        if label is not None
    }
    return tuple(
        BatchItem(sid, path, *guesses.get(sid, (None, None)))
        for sid, path in zip(ids, paths, strict=True)
    )


def evaluate(ws: Workspace, config: LoopConfig) -> dict[str, Any]:
    """The labelled count, and the model's held-out metrics from its own predictions: accuracy
    and macro-F1, or a detection loop's mAP and mAP50."""
    dataset = ws.dataset(config)
    model_predictions.require_predictions_field(dataset, config.scorer.field, config.task)
    if config.task == "detection":
        return _detection_metrics(dataset, config)
    result: dict[str, Any] = {"labelled": len(labelled(dataset, config.name))}
    if not config.ground_truth_field or not (config.eval_fraction or config.eval_tag):
        return result
    _, (truth, predicted) = store.columns_where(
        dataset,
        {naming.split_field(config.name): lab.EVAL},
        [f"{config.ground_truth_field}.label", f"{config.scorer.field}.label"],
    )
    keep = [i for i, t in enumerate(truth) if t is not None]
    if not keep:
        return result
    result.update(
        model_predictions.metrics([truth[i] for i in keep], [predicted[i] for i in keep]),
        n_eval=len(keep),
        unpredicted=sum(1 for i in keep if predicted[i] is None),
    )
    return result


def _detection_metrics(dataset, config: LoopConfig) -> dict[str, Any]:
    """Images and boxes labelled, and FiftyOne's mAP of the team's boxes on the held-out images
    (an image without a prediction has no boxes: its objects count as missed)."""
    boxes = dets.read_boxes(dataset, naming.label_field(config.name))
    result: dict[str, Any] = {
        "labelled": len(boxes),
        "labelled_boxes": sum(len(b) for b in boxes.values()),
    }
    held_out = eval_ids(dataset, config.name)
    if config.ground_truth_field and held_out:
        m, m50 = box_evaluation.mean_average_precision(
            dataset.select(held_out), config.scorer.field, config.ground_truth_field
        )
        result.update({"mAP": m, "mAP50": m50, "eval_images": len(held_out)})
    return result


def round_zero(ws: Workspace, config: LoopConfig) -> dict[str, Any]:
    """Round 0 of a loop scored by its own model: the model as it is, evaluated."""
    return {"checkpoint": None, "metrics": evaluate(ws, config)}


def retrain(ws: Workspace, config: LoopConfig, round_number: int) -> dict[str, Any] | None:
    """Run the team's retraining after the round's ingest; the round's ``taught`` fields, or
    None while the loop waits for new predictions (no job, field not yet rewritten)."""
    loop = config.name
    doc = ws.ledger.round(loop, round_number)
    previous = doc.get("retrain") or {}
    hook = config.scorer.retrain
    params = retraining.parameters(config, round_number)

    def save(record: dict[str, Any]) -> None:
        ws.ledger.update_round(loop, round_number, retrain=record)

    if isinstance(hook, DeploymentRetrain):
        prior = previous if previous.get("kind") == "deployment" else None
        record = retraining.run_deployment_hook(hook, params, prior, save)
    elif isinstance(hook, EntryPointRetrain):
        record = retraining.call_entry_point(hook, params)
    else:
        record = {**previous, "kind": "none"}
        if not previous.get("ready") and freshness(ws, config, pool_ids(ws, config)):
            if "waiting_since" not in previous:
                save({**record, "waiting_since": datetime.now(UTC)})
            return None
        record["state"] = "ready" if previous.get("ready") else "rewritten"
    return {"checkpoint": None, "metrics": evaluate(ws, config), "retrain": record}


def waiting_for_predictions(ws: Workspace, doc: dict[str, Any]) -> str | None:
    """What an ingested round of a loop without a retraining job waits on, or None."""
    config = ws.config(doc["loop"])
    if doc["state"] != INGESTED or not scored_by_model(config):
        return None
    if config.scorer.retrain.kind != "none" or (doc.get("retrain") or {}).get("ready"):
        return None
    problem = freshness(ws, config, pool_ids(ws, config))
    if problem is None:
        return None
    return f"round {doc['round']} is {WAITING_NOTE}: {problem}"


def mark_ready(ws: Workspace, loop: str, by: str = "cli") -> dict[str, Any]:
    """Vouch for the predictions as they are: the waiting round is taught at the next step and
    the next query takes them (``alflow predictions ready LOOP``)."""
    config = ws.config(loop)
    if not scored_by_model(config):
        raise LedgerError(
            f"loop {loop!r} is scored by alflow's learners (scorer 'alflow'); only a loop with "
            "scorer 'model_predictions' waits for predictions"
        )
    last = last_ingest(ws, loop)
    if last is None:
        raise LedgerError(
            f"loop {loop!r} has ingested no labels yet, so its predictions cannot be stale; "
            f"'alflow step {loop}' queries from them"
        )
    doc = ws.ledger.round(loop, last["round"])
    record = {**(doc.get("retrain") or {}), "ready": {"at": datetime.now(UTC), "by": by}}
    ws.ledger.update_round(loop, last["round"], retrain=record)
    return {"loop": loop, "round": last["round"], "ready": True}
