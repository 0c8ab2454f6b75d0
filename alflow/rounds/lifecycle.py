"""A loop's creation and deletion: validate and store it, write its split and initial labels,
fit round 0; remove what a loop (or a creation that stopped part-way) wrote."""

from __future__ import annotations

import logging
from typing import Any

from alflow import progress as reporting
from alflow.backends.app_review import surface
from alflow.config import naming
from alflow.config.loop import FieldLabels, LoopConfig, TagLabels
from alflow.config.own_model import DeploymentRetrain
from alflow.data import bulk_writes, freshness, store
from alflow.data import labels as lab
from alflow.errors import DatasetError
from alflow.learning import model_predictions
from alflow.loop.workspace import Workspace
from alflow.rounds import detection, own_model, retraining
from alflow.rounds.records import labelled, summarize
from alflow.rounds.training import advance_learner
from alflow.services.environment import checkpoints_dir
from alflow.state.ledger import ACTIVE, CREATING, TAUGHT
from alflow.strategies import COLD_START_STRATEGIES

log = logging.getLogger(__name__)


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
    ws.check_backend(config)
    dataset = ws.dataset(config)
    store.require_fields(dataset, config.features.fields, "feature")
    if config.ground_truth_field:
        store.require_fields(dataset, [config.ground_truth_field], "ground-truth")
    if own_model.scored_by_model(config):  # refused before anything is written
        model_predictions.require_predictions_field(dataset, config.scorer.field, config.task)
        if isinstance(config.scorer.retrain, DeploymentRetrain):
            retraining.require_deployment(config.scorer.retrain.name)
    initial, classes, values = initial_labels(dataset, config)
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
        config.name, config.model_dump(mode="json"), {"classes": classes}, status=CREATING
    )
    try:
        with freshness.own_write(fm.path):  # the initial labels touch samples, no feature
            _write_split_and_labels(config, dataset, ids, eval_ids, values)
    except BaseException:
        discard_unfinished(ws, config.name)
        raise
    return {
        "loop": config.name,
        "initial_labels": len(initial),
        "eval": len(eval_ids),
        "classes": classes,
    }


def initial_labels(dataset, config: LoopConfig) -> tuple[dict[str, Any], list[str], dict]:
    """The initial labels by sample id, the classes they declare, and the label objects the
    loop's label field starts with (Classifications, or Detections for a detection loop),
    all validated before anything is written."""
    if config.task == "detection":
        detection.require_fields(dataset, config)
        boxes = detection.read_initial(dataset, config)
        source = f"field {config.initial_labels.field!r}" if config.initial_labels else "none"
        return boxes, detection.classes_of(boxes), detection.initial_values(boxes, source)
    initial, source = read_initial_labels(dataset, config)
    # a team's own model needs no labels to start from: its predictions score round 1
    cold = config.strategy.name in COLD_START_STRATEGIES or own_model.scored_by_model(config)
    lab.require_initial_labels(initial, f"dataset {config.dataset!r} ({source})", cold)
    prov = lab.provenance(f"initial:{source}", 0)
    values = {sid: store.classification(label, **prov) for sid, label in initial.items()}
    return initial, declared_classes(config, initial), values


def _write_split_and_labels(config, dataset, ids, eval_ids, values) -> None:
    split = {sid: (lab.EVAL if sid in eval_ids else lab.POOL) for sid in ids}
    with reporting.step(f"marking the pool/eval split of {config.name!r}", len(split)) as report:
        bulk_writes.write_strings(
            dataset, naming.split_field(config.name), split, on_chunk=report.advance
        )
    store.write_labels(dataset, naming.label_field(config.name), values)


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
        # every sample is touched, no feature: the loop's cache need not be read again
        with freshness.own_write(ws.cache_directory(ws.config(loop), dataset)):
            deleted = store.clear_fields(dataset, naming.loop_fields(loop))
            surface.clear_loop(dataset, loop)
    except DatasetError:
        log.warning("dataset of loop %r is gone; removing the ledger records only", loop)
    ws.ledger.delete_loop(loop)
    for path in checkpoints_dir(loop).glob("*"):
        path.unlink()
    return {"loop": loop, "fields_deleted": deleted}


def fit_initial(ws: Workspace, loop: str) -> dict[str, Any]:
    """Round 0: fit the learner on the initial labels, checkpoint and evaluate it."""
    existing = ws.ledger.get_round(loop, 0)
    if existing is None:
        config = ws.config(loop)
        dataset = ws.dataset(config)
        if own_model.scored_by_model(config):  # the team's model as it is, evaluated
            fields = own_model.round_zero(ws, config)
        elif config.task == "detection":
            fields = detection.advance(ws, config, 0)
        else:
            fields = advance_learner(ws, config, None, labelled(dataset, loop), [], 0)
        ws.ledger.insert_round(
            loop, 0, TAUGHT, strategy=config.strategy.name, batch_size=0, queried_ids=[], **fields
        )
    if ws.ledger.loop(loop)["status"] == CREATING:  # round 0 completes the creation
        ws.ledger.update_loop(loop, status=ACTIVE)
    return summarize(ws.ledger.round(loop, 0))
