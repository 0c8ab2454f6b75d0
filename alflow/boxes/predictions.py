"""Per-box predictions of a pool: every box's image, place, class and probabilities.

One record for every source of predictions: alflow's classifier over a detection loop's
proposals, a team's own detector (its Detections with per-box confidences or probabilities),
and classification, where each sample is one box covering the whole image. Image scores
(:mod:`alflow.boxes.image_scores`) read only this record, so they are the same code for all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alflow.boxes.geometry import WHOLE_IMAGE, as_boxes
from alflow.errors import LabelError


@dataclass(frozen=True)
class BoxPredictions:
    """Predicted boxes of ``n_samples`` images (the pool's positions ``0 .. n_samples - 1``).

    Attributes:
        sample: ``(n,)`` the position of each box's image.
        boxes: ``(n, 4)`` relative ``[x, y, w, h]``.
        labels: ``(n,)`` each box's predicted class.
        confidence: ``(n,)`` the probability of that class.
        proba: ``(n, len(classes))`` class probabilities, or None where the predictor gives only
            a confidence per box.
        classes: the columns of ``proba`` (with the background class, for alflow's learner).
        n_samples: how many images the pool has, boxes or not.
    """

    sample: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray
    confidence: np.ndarray
    proba: np.ndarray | None
    classes: tuple[str, ...]
    n_samples: int

    def __post_init__(self) -> None:
        n = len(self.sample)
        sizes = {len(self.boxes), len(self.labels), len(self.confidence)}
        if self.proba is not None:
            sizes.add(len(self.proba))
        if sizes != {n}:
            raise LabelError(f"box predictions of unequal lengths: {n} samples, sizes {sizes}")
        if n and (self.sample.min() < 0 or self.sample.max() >= self.n_samples):
            raise LabelError(f"box predictions name images outside 0..{self.n_samples - 1}")
        _finite(self.confidence, "confidence")
        if self.proba is not None:
            _finite(self.proba, "class probability")

    @property
    def boxes_per_sample(self) -> np.ndarray:
        return np.bincount(self.sample, minlength=self.n_samples)

    def take(self, keep: np.ndarray) -> BoxPredictions:
        """The boxes at indices ``keep``, same images."""
        return BoxPredictions(
            sample=self.sample[keep],
            boxes=self.boxes[keep],
            labels=self.labels[keep],
            confidence=self.confidence[keep],
            proba=None if self.proba is None else self.proba[keep],
            classes=self.classes,
            n_samples=self.n_samples,
        )

    def placed(self, positions: np.ndarray, n_samples: int) -> BoxPredictions:
        """The same boxes in a larger pool: image ``i`` becomes image ``positions[i]`` of
        ``n_samples`` (the others have no boxes)."""
        positions = np.asarray(positions, dtype=np.int64)
        if len(positions) != self.n_samples:
            raise LabelError(
                f"{len(positions)} positions for box predictions of {self.n_samples} images"
            )
        return BoxPredictions(
            sample=positions[self.sample],
            boxes=self.boxes,
            labels=self.labels,
            confidence=self.confidence,
            proba=self.proba,
            classes=self.classes,
            n_samples=n_samples,
        )


def _finite(values: np.ndarray, what: str) -> None:
    bad = ~np.isfinite(np.asarray(values, dtype=np.float64))
    if bad.any():
        raise LabelError(
            f"{int(bad.sum())} box {what} value(s) are NaN or infinite (first at box "
            f"{int(np.flatnonzero(bad.ravel())[0])}); write finite values in [0, 1]"
        )


def from_proba(
    sample: np.ndarray,
    boxes: np.ndarray,
    proba: np.ndarray,
    classes: tuple[str, ...],
    n_samples: int,
) -> BoxPredictions:
    """Boxes with class probabilities: each box's label is its most probable class."""
    proba = np.asarray(proba, dtype=np.float64)
    best = proba.argmax(axis=1) if len(proba) else np.zeros(0, dtype=int)
    return BoxPredictions(
        sample=np.asarray(sample, dtype=np.int64),
        boxes=as_boxes(boxes, "box predictions"),
        labels=np.asarray(classes, dtype=object)[best] if len(best) else np.zeros(0, object),
        confidence=proba[np.arange(len(proba)), best] if len(proba) else np.zeros(0),
        proba=proba,
        classes=tuple(classes),
        n_samples=n_samples,
    )


def whole_images(proba: np.ndarray, classes: tuple[str, ...]) -> BoxPredictions:
    """Classification as detection: one box covering each image, with its class probabilities."""
    n = len(proba)
    boxes = np.tile(np.asarray(WHOLE_IMAGE), (n, 1))
    return from_proba(np.arange(n), boxes, proba, classes, n)
