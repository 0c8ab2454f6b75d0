"""A detection learner that runs offline on CPU: fixed proposals, a classifier over their boxes.

Every estimator alflow offers can be the classifier (:func:`alflow.learning.build.build_estimator`);
it learns the classes of the labelled boxes plus a background class that rejects proposals
covering no object. Its per-box probabilities become the pool's
:class:`alflow.boxes.predictions.BoxPredictions`, the record a team's own detector's boxes
become too, and predicted objects are the non-background boxes left after class-wise
suppression.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from alflow.boxes.geometry import nms
from alflow.boxes.matching import proposal_labels
from alflow.boxes.pool import BoxPool
from alflow.boxes.predictions import BoxPredictions, from_proba
from alflow.config.detection import BACKGROUND
from alflow.config.estimators import EstimatorConfig
from alflow.errors import LabelError
from alflow.learning.build import build_estimator


@dataclass
class BoxLearner:
    """A fitted box classifier and the classes of its probability columns."""

    model: object
    classes: tuple[str, ...]


def fit_boxes(
    estimator: EstimatorConfig, X: np.ndarray, labels: np.ndarray, random_state: int
) -> BoxLearner:
    """Fit the box classifier on labelled proposals (their features and classes).

    Raises:
        LabelError: the labelled boxes hold fewer than two classes (background counts).
    """
    labels = np.asarray(labels, dtype=str)
    found = np.unique(labels)
    if len(found) < 2:
        raise LabelError(
            f"the labelled images' proposals hold {len(found)} class(es) ({', '.join(found)}); "
            "a box learner needs two: label images with objects and with empty proposals"
        )
    model = build_estimator(estimator, random_state).fit(np.asarray(X, dtype=np.float32), labels)
    return BoxLearner(model=model, classes=tuple(str(c) for c in model.classes_))


def predict_boxes(
    learner: BoxLearner, X: np.ndarray, sample: np.ndarray, boxes: np.ndarray, n_samples: int
) -> BoxPredictions:
    """Every proposal's class probabilities, as the pool's box predictions."""
    proba = learner.model.predict_proba(np.asarray(X, dtype=np.float32)) if len(X) else None
    if proba is None:
        proba = np.zeros((0, len(learner.classes)))
    return from_proba(sample, boxes, proba, learner.classes, n_samples)


def kept_objects(
    pred: BoxPredictions, nms_iou: float, min_score: float = 0.0, background: str = BACKGROUND
) -> BoxPredictions:
    """The predicted objects: boxes whose class is not background and whose confidence reaches
    ``min_score``, after class-wise suppression."""
    is_object = (pred.labels != background) & (pred.confidence >= min_score)
    found = pred.take(np.flatnonzero(is_object))
    return found.take(nms(found.boxes, found.confidence, found.labels, nms_iou, found.sample))


def objects(
    pred: BoxPredictions, nms_iou: float, min_score: float = 0.0, background: str = BACKGROUND
) -> list[list[tuple[list[float], str, float]]]:
    """Each image's predicted objects ``(box, label, confidence)`` (:func:`kept_objects`)."""
    out: list[list[tuple[list[float], str, float]]] = [[] for _ in range(pred.n_samples)]
    kept = kept_objects(pred, nms_iou, min_score, background)
    columns = (kept.sample, kept.boxes, kept.labels, kept.confidence)  # tolist: plain floats
    for image, box, label, confidence in zip(*(c.tolist() for c in columns), strict=True):
        out[image].append((box, str(label), confidence))
    return out


@dataclass
class BoxState:
    """A detection loop's learner as its checkpoint holds it: the box classifier and what it
    was fitted on (images and boxes labelled, which round made it)."""

    learner: BoxLearner
    round_number: int
    n_labels: int  # labelled images
    n_boxes: int  # labelled boxes
    training_ids: list[str]

    @property
    def classes(self) -> list[str]:
        """The object classes it predicts (without background)."""
        return [c for c in self.learner.classes if c != BACKGROUND]


def proposal_answers(
    pool: BoxPool, labelled: Mapping[str, list[tuple[list[float], str]]], match_iou: float
) -> tuple[np.ndarray, np.ndarray]:
    """The proposal rows of the labelled images and the class each learns (background where
    it overlaps no labelled box by ``match_iou``)."""
    position = {sid: i for i, sid in enumerate(pool.ids)}
    rows, labels = [], []
    for sid, boxes in labelled.items():
        if sid not in position:
            continue
        image_rows = pool.rows_of([position[sid]])
        truth = np.asarray([b for b, _ in boxes], dtype=np.float64).reshape(-1, 4)
        rows.append(image_rows)
        labels.append(
            proposal_labels(pool.boxes[image_rows], truth, [c for _, c in boxes], match_iou)
        )
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, str)
    return np.concatenate(rows), np.concatenate(labels)


def fit_box_state(
    estimator: EstimatorConfig,
    pool: BoxPool,
    labelled: Mapping[str, list[tuple[list[float], str]]],
    match_iou: float,
    random_state: int,
    round_number: int,
) -> BoxState:
    """Fit the box classifier on every labelled image's proposals."""
    rows, answers = proposal_answers(pool, labelled, match_iou)
    learner = fit_boxes(estimator, pool.X[rows], answers, random_state)
    return BoxState(
        learner=learner,
        round_number=round_number,
        n_labels=len(labelled),
        n_boxes=sum(len(b) for b in labelled.values()),
        training_ids=sorted(labelled),
    )


def pool_predictions(state: BoxState, pool: BoxPool) -> BoxPredictions:
    """The learner's class probabilities of every proposal of the pool."""
    return predict_boxes(state.learner, pool.X, pool.sample, pool.boxes, pool.n_images)
