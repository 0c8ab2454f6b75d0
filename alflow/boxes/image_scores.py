"""How box uncertainties become image scores, and a batch of images from them.

A per-box measure (least confident, margin or entropy of the box's class probabilities; one
minus its confidence where it has none) is taken after class-wise non-maximum suppression, so
one object seen by three overlapping proposals counts once; optionally weighted down for
classes frequent in the pool; then aggregated per image by sum, mean, max or the mean of its
``top_k`` most uncertain boxes. A batch is counted in images, or in the objects the learner
expects to find (the cost of annotating them), which the ledger records.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alflow.boxes.geometry import nms
from alflow.boxes.predictions import BoxPredictions
from alflow.config.detection import BACKGROUND, Aggregation, BatchUnit, BoxMeasure
from alflow.errors import ConfigError, PoolExhaustedError
from alflow.strategies.measures import entropy, least_confident_measure, margin_measure


@dataclass(frozen=True)
class ImageScores:
    """One score and one expected object count per image of the pool."""

    scores: np.ndarray
    expected_boxes: np.ndarray


def box_uncertainty(pred: BoxPredictions, measure: BoxMeasure) -> np.ndarray:
    """Each box's uncertainty; higher is more informative."""
    if measure == "one_minus_confidence" or pred.proba is None:
        if measure not in ("one_minus_confidence", "least_confident"):
            raise ConfigError(
                f"box measure {measure!r} needs class probabilities per box, and these boxes "
                "carry only a confidence: choose measure 'one_minus_confidence' (or write "
                "per-box probabilities)"
            )
        return 1.0 - pred.confidence
    if measure == "least_confident":
        return least_confident_measure(pred.proba)
    if measure == "margin":
        return margin_measure(pred.proba)
    return entropy(pred.proba)


def class_weights(labels: np.ndarray, background: str = BACKGROUND) -> dict[str, float]:
    """Weights that make every predicted object class count alike: ``n / (k * n_c)`` for a
    class of ``n_c`` of the pool's ``n`` objects among ``k`` classes (background weighs 1)."""
    objects = labels[labels != background]
    if not len(objects):
        return {}
    names, counts = np.unique(objects, return_counts=True)
    return {str(c): len(objects) / (len(names) * n) for c, n in zip(names, counts, strict=True)}


def aggregate(
    values: np.ndarray, sample: np.ndarray, n_samples: int, how: Aggregation, top_k: int = 3
) -> np.ndarray:
    """Per-image ``how`` of the box ``values`` (an image without boxes scores 0)."""
    if how == "sum":
        return np.bincount(sample, weights=values, minlength=n_samples)
    counts = np.bincount(sample, minlength=n_samples)
    if how == "mean":
        sums = np.bincount(sample, weights=values, minlength=n_samples)
        return np.divide(sums, counts, out=np.zeros(n_samples), where=counts > 0)
    out = np.zeros(n_samples)
    order = np.lexsort((-values, sample))  # by image, most uncertain first
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    for image in np.flatnonzero(counts):
        ranked = values[order[starts[image] : starts[image] + counts[image]]]
        out[image] = ranked[0] if how == "max" else ranked[:top_k].mean()
    return out


def image_scores(
    pred: BoxPredictions,
    measure: BoxMeasure = "margin",
    aggregation: Aggregation = "sum",
    top_k: int = 3,
    nms_iou: float = 0.5,
    class_balance: bool = False,
    min_score: float = 0.3,
    background: str = BACKGROUND,
) -> ImageScores:
    """The pool's image scores and expected object counts from its box predictions."""
    kept = pred.take(_suppressed_per_image(pred, nms_iou))
    values = box_uncertainty(kept, measure)
    if class_balance:
        weights = class_weights(kept.labels, background)
        values = values * np.array([weights.get(str(c), 1.0) for c in kept.labels])
    scores = aggregate(values, kept.sample, pred.n_samples, aggregation, top_k)
    objects = (kept.labels != background) & (kept.confidence >= min_score)
    expected = np.bincount(kept.sample[objects], minlength=pred.n_samples)
    return ImageScores(scores=scores, expected_boxes=expected)


def _suppressed_per_image(pred: BoxPredictions, iou: float) -> np.ndarray:
    """Indices of the boxes class-wise NMS keeps, image by image."""
    return nms(pred.boxes, pred.confidence, pred.labels, iou, groups=pred.sample)


def select_images(
    scores: ImageScores,
    pool: np.ndarray,
    batch_size: int,
    unit: BatchUnit = "images",
) -> np.ndarray:
    """The pool positions of the batch, most informative first (ties: lower position first).

    Args:
        scores: every image's score and expected objects.
        pool: the positions that may be picked (the unlabelled, non-held-out images).
        batch_size: images, or with ``unit`` 'boxes' the expected objects to reach; a batch
            counted in boxes holds at least one image.

    Raises:
        PoolExhaustedError: the pool is empty.
    """
    pool = np.asarray(pool, dtype=np.int64)
    if not len(pool):
        raise PoolExhaustedError(
            "pool exhausted: no unlabelled image left; add images or stop the loop"
        )
    ranked = pool[np.lexsort((pool, -scores.scores[pool]))]
    if unit == "images":
        return ranked[:batch_size]
    reached = np.cumsum(np.maximum(scores.expected_boxes[ranked], 1)) >= batch_size
    stop = int(np.argmax(reached)) + 1 if reached.any() else len(ranked)
    return ranked[:stop]
