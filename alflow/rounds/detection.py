"""What a round does differently for a detection loop: its labels are boxes.

The round's steps (:mod:`alflow.rounds.steps`) stay one straight line for both tasks and ask
this module where the label type matters: which fields must hold ``Detections``, how the batch
is picked from box scores, which boxes are pre-filled for the annotator, how answered boxes
are written with their provenance, and how the box learner is refitted, checkpointed, scored
by FiftyOne's mAP and written back. Everything else (the ledger, the backends' protocol,
recovery, reports) is the classification round's own code.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from alflow.backends import Batch, BatchItem, Collected
from alflow.backends.base import DETECTION, BoxGuess
from alflow.boxes.cache import cached_box_pool
from alflow.boxes.geometry import as_boxes
from alflow.boxes.image_scores import image_scores, select_images
from alflow.boxes.pool import BoxPool, read_box_pool
from alflow.boxes.predictions import BoxPredictions
from alflow.config import naming
from alflow.config.detection import BACKGROUND
from alflow.config.loop import FieldLabels, LoopConfig
from alflow.data import bulk_writes, store
from alflow.data import detections as dets
from alflow.data import labels as lab
from alflow.errors import DatasetError, LabelError, preview_ids
from alflow.learning import box_evaluation, model_predictions
from alflow.learning.box_learner import (
    BoxState,
    fit_box_state,
    kept_objects,
    objects,
    pool_predictions,
)
from alflow.loop.workspace import Workspace
from alflow.rounds import own_model
from alflow.rounds.records import eval_ids
from alflow.rounds.training import checkpoint
from alflow.strategies.selectors import cluster_spread

Boxes = dict[str, list[tuple[list[float], str]]]


def require_fields(dataset, config: LoopConfig) -> None:
    """Every label field a detection loop reads holds Detections (one line naming the one
    that does not)."""
    proposals = config.detection.proposals
    fields = [("proposals", proposals.field)] if proposals else []
    if isinstance(config.initial_labels, FieldLabels):
        fields.append(("initial-label", config.initial_labels.field))
    if config.ground_truth_field:
        fields.append(("ground-truth", config.ground_truth_field))
    for role, field in fields:
        dets.require_label_type(dataset, field, dets.DETECTIONS, role)


def read_initial(dataset, config: LoopConfig) -> Boxes:
    """The initial labels' boxes, each checked to lie inside its image."""
    if config.initial_labels is None:
        return {}
    field = config.initial_labels.field
    found = dets.read_boxes(dataset, field)
    for sid, boxes in found.items():
        as_boxes([b for b, _ in boxes], f"initial-label field {field!r} of sample {sid}")
    if not found and config.strategy.name != "random":
        raise LabelError(
            f"initial-label field {field!r} of dataset {config.dataset!r} labels no image; "
            "label a few images' boxes there, or use strategy 'random' to start cold"
        )
    return found


def classes_of(boxes: Boxes) -> list[str]:
    return sorted({label for found in boxes.values() for _, label in found})


def initial_values(initial: Boxes, source: str) -> dict[str, Any]:
    """The initial labels as the loop's Detections, with provenance on the label and its boxes."""
    prov = lab.provenance(f"initial:{source}", 0)
    return {
        sid: dets.detections(((b, c, prov) for b, c in boxes), **prov)
        for sid, boxes in initial.items()
    }


def box_pool(ws: Workspace, config: LoopConfig, refresh: bool = False) -> BoxPool:
    """Every image's proposals and their features, in the order of the loop's feature rows
    (from the box cache, read again where images changed; all of it with ``refresh``)."""
    ids = [str(i) for i in ws.features(config).ids]
    return cached_box_pool(ws.dataset(config), ids, config.detection, refresh=refresh)


def select(
    ws: Workspace,
    config: LoopConfig,
    state: BoxState | None,
    mask: np.ndarray,
    n: int,
    random_state: int,
) -> tuple[list[str], list[float] | None]:
    """The batch's image ids and scores: random, or the most uncertain images by their boxes
    (spread over the image feature's clusters for ``diverse_margin``)."""
    fm = ws.features(config)
    candidates = np.flatnonzero(mask)
    rng = np.random.default_rng(random_state)
    pred = None
    if config.strategy.name != "random":
        pred = pool_box_predictions(ws, config, state, candidates)
    if pred is None:
        picked = rng.permutation(candidates)[:n]
        return [str(fm.ids[i]) for i in picked], None
    d = config.detection
    scores = image_scores(
        pred, d.measure, d.aggregation, d.top_k, d.nms_iou, d.class_balance, d.min_score
    )
    picked = select_images(scores, candidates, n, d.batch_unit)
    if config.strategy.name == "diverse_margin" and len(picked) < len(candidates):
        spread = cluster_spread(
            np.asarray(fm.X[candidates]),
            scores.scores[candidates],
            len(picked),
            min(len(candidates), 3 * len(picked)),
            rng,
        )
        picked = candidates[spread]
    return [str(fm.ids[i]) for i in picked], [float(scores.scores[i]) for i in picked]


def pool_box_predictions(
    ws: Workspace, config: LoopConfig, state: BoxState | None, candidates: np.ndarray
) -> BoxPredictions | None:
    """The pool's boxes in feature-row order: the one record the image scores read, and the one
    place that says who predicted them. A team's own detector (scorer ``model_predictions``):
    its Detections field on the ``candidates`` rows, checked fresh; alflow's box learner: every
    image's proposals; None before the first learner (a cold start picks at random)."""
    if own_model.scored_by_model(config):
        ids = [str(i) for i in ws.features(config).ids]
        found = own_model.read_fresh(ws, config, [ids[i] for i in candidates])
        return found.placed(candidates, len(ids))
    if state is None:
        return None
    return pool_predictions(state, box_pool(ws, config))


def batch_box_predictions(
    ws: Workspace, config: LoopConfig, state: BoxState | None, ids: list[str]
) -> BoxPredictions | None:
    """The boxes of the batch's images ``ids`` (in that order) to pre-fill, from the same
    source as :func:`pool_box_predictions` (the query checked them fresh); None before the
    first learner."""
    dataset = ws.dataset(config)
    if own_model.scored_by_model(config):
        return model_predictions.read_pool(dataset, config.scorer, ids, config.task)
    if state is None:
        return None
    return pool_predictions(state, read_box_pool(dataset, ids, config.detection))


def image_sizes(dataset, ids: list[str]) -> dict[str, tuple[int, int]]:
    """Each image's ``(width, height)`` from FiftyOne's metadata, computed where missing."""
    found = _sizes(dataset, ids)
    missing = [sid for sid in ids if sid not in found]
    if missing:
        dataset.select(missing).compute_metadata()
        found.update(_sizes(dataset, missing))
    unread = [sid for sid in ids if sid not in found]
    if unread:
        raise DatasetError(
            f"{len(unread)} image(s) have no size in their metadata and cannot be read "
            f"({preview_ids(unread)}): restore the files or delete the samples"
        )
    return found


def _sizes(dataset, ids: list[str]) -> dict[str, tuple[int, int]]:
    found, widths, heights = dataset.select(ids).values(["id", "metadata.width", "metadata.height"])
    return {
        sid: (int(w), int(h)) for sid, w, h in zip(found, widths, heights, strict=True) if w and h
    }


def make_batch(
    ws: Workspace, config: LoopConfig, state: BoxState | None, number: int, ids: list[str]
) -> Batch:
    """The batch with the predicted objects pre-filled (the learner's or the team's model's;
    none before the first learner)."""
    dataset = ws.dataset(config)
    paths = store.filepaths(dataset, ids)
    sizes = image_sizes(dataset, ids)
    guesses: list[tuple[BoxGuess, ...] | None] = [None] * len(ids)
    classes = set(ws.ledger.loop(config.name).get("classes", []))
    pred = batch_box_predictions(ws, config, state, ids)
    if pred is not None:
        d = config.detection
        found = objects(pred, d.nms_iou, d.min_score)
        guesses = [tuple(BoxGuess(tuple(b), c, s) for b, c, s in image) for image in found]
        classes |= {c for c in pred.classes if c != BACKGROUND}
    items = tuple(
        BatchItem(sid, path, boxes=g, size=sizes[sid])
        for sid, path, g in zip(ids, paths, guesses, strict=True)
    )
    return Batch(
        config.name,
        number,
        items,
        tuple(sorted(classes)),
        task=DETECTION,
        match_iou=config.detection.match_iou,
    )


def answer_values(collected: Collected, number: int, kind: str) -> dict[str, Any]:
    """Each answer's boxes as Detections: the backend kind is the source of the label and of
    every box, with what the annotator did to it; removed pre-fills are kept as ``deleted``."""
    values = {}
    for a in collected.answers:
        boxes = [(b.box, b.label, _provenance(kind, number, b.provenance)) for b in a.boxes or ()]
        prov = _provenance(kind, number, a.provenance)
        values[a.sample_id] = dets.detections(boxes, deleted=list(a.deleted), **prov)
    return values


def _provenance(kind: str, number: int, reported: dict[str, Any]) -> dict[str, Any]:
    return lab.provenance(kind, number, **{k: v for k, v in reported.items() if k != "source"})


def answered_classes(collected: Collected) -> set[str]:
    return {b.label for a in collected.answers for b in a.boxes or ()}


def ingest_counts(collected: Collected) -> dict[str, int]:
    """Boxes labelled and what the annotators did to the pre-filled ones, for the ledger."""
    counts = {"boxes": 0, "kept": 0, "moved": 0, "relabelled": 0, "added": 0, "deleted": 0}
    for a in collected.answers:
        counts["boxes"] += len(a.boxes or ())
        counts["deleted"] += len(a.deleted)
        for b in a.boxes or ():
            change = b.provenance.get("change")
            if change in counts:
                counts[change] += 1
    return counts


def advance(ws: Workspace, config: LoopConfig, number: int) -> dict[str, Any]:
    """Refit the box learner on every labelled image, checkpoint it, write its objects back
    and score the held-out images; returns the round's ``checkpoint`` and ``metrics``."""
    dataset = ws.dataset(config)
    labelled = dets.read_boxes(dataset, naming.label_field(config.name))
    if not labelled:
        return {"checkpoint": None, "metrics": {"labelled": 0, "labelled_boxes": 0}}
    pool = box_pool(ws, config)
    state = fit_box_state(
        config.estimator,
        pool,
        labelled,
        config.detection.match_iou,
        config.random_state,
        number,
    )
    saved = checkpoint(state, config.name, number)
    write_predictions(dataset, config, state, pool, number)
    metrics = {"labelled": state.n_labels, "labelled_boxes": state.n_boxes}
    held_out = eval_ids(dataset, config.name)
    if config.ground_truth_field and held_out:
        m, m50 = box_evaluation.mean_average_precision(
            dataset.select(held_out),
            naming.prediction_field(config.name),
            config.ground_truth_field,
        )
        metrics.update({"mAP": m, "mAP50": m50, "eval_images": len(held_out)})
    return {"checkpoint": saved, "metrics": metrics}


def write_predictions(dataset, config: LoopConfig, state: BoxState, pool: BoxPool, number: int):
    """Every image's predicted objects (after class-wise suppression) into the loop's
    predictions field, each box with its confidence."""
    kept = kept_objects(pool_predictions(state, pool), config.detection.nms_iou)
    documents = dets.predicted_documents(
        kept.sample, kept.boxes, kept.labels, kept.confidence, pool.n_images, round=number
    )
    pairs = ((pool.ids[row], doc) for row, doc in documents)
    bulk_writes.write_detections_documents(dataset, naming.prediction_field(config.name), pairs)
