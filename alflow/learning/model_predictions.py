"""A team's own model as a loop's scorer: its predictions read from FiftyOne, its uncertainty,
its batch and its held-out metrics.

The predictions field's values become :class:`alflow.boxes.predictions.BoxPredictions` (one
whole-image box per sample, :mod:`alflow.boxes.from_fields`), the record alflow's learners
produce, and the uncertainty is the per-box measure of :mod:`alflow.boxes.image_scores`; a
detection loop's ``Detections`` field is read by :func:`read_pool` too (``from_detections``),
and its images are scored by the detection round's own code (:mod:`alflow.rounds.detection`).
The selectors are the strategies' own (``top_k``, ``cluster_spread``), so a batch is the one
alflow's learner would pick from the same probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from alflow.boxes.from_fields import from_classifications, from_detections
from alflow.boxes.image_scores import box_uncertainty
from alflow.boxes.predictions import BoxPredictions
from alflow.config.own_model import ModelPredictionsConfig
from alflow.config.strategy import StrategyConfig
from alflow.errors import ConfigError, DatasetError
from alflow.strategies.pool import check_pool, rng_of
from alflow.strategies.selectors import cluster_spread, top_k

# the per-box measure of each strategy (diverse_margin spreads margin's picks over the features)
MEASURES = {
    "least_confident": "least_confident",
    "margin": "margin",
    "entropy": "entropy",
    "diverse_margin": "margin",
}


# what each task's predictions field holds, and what one value of it carries
FIELD_TYPES = {
    "classification": ("Classification", "one Classification (label, confidence, logits)"),
    "detection": ("Detections", "one Detections (boxes with label, confidence, probabilities)"),
}


def require_predictions_field(dataset, field: str, task: str = "classification") -> None:
    """Raise DatasetError unless ``field`` of ``dataset`` holds the ``task``'s label type
    (Classification, or Detections for a detection loop)."""
    import fiftyone as fo

    expected, holds = FIELD_TYPES[task]
    schema = dataset.get_field_schema()
    if field not in schema:
        raise DatasetError(
            f"dataset {dataset.name!r} has no predictions field {field!r}: run the model on "
            f"the dataset first (it writes {expected} labels there), or correct scorer.field"
        )
    kind = getattr(schema[field], "document_type", None)
    if kind is not getattr(fo, expected):
        held = kind.__name__ if kind else type(schema[field]).__name__
        raise DatasetError(
            f"predictions field {field!r} holds {held}, not {expected}: scorer "
            f"'model_predictions' of a {task} loop reads {holds} per sample"
        )


def read_pool(
    dataset, scorer: ModelPredictionsConfig, ids: Sequence[str], task: str = "classification"
) -> BoxPredictions:
    """The model's predictions of the samples ``ids``, in that order: one whole-image box per
    sample, or a detection loop's boxes."""
    require_predictions_field(dataset, scorer.field, task)
    by_id = dict(zip(dataset.values("id"), dataset.values(scorer.field), strict=True))
    values = [by_id.get(sid) for sid in ids]
    if task == "detection":
        return from_detections(scorer.field, ids, values, scorer.classes, scorer.probabilities)
    return from_classifications(scorer.field, ids, values, scorer.classes, scorer.logits)


def uncertainty(pred: BoxPredictions, strategy: str) -> np.ndarray:
    """Each sample's uncertainty under ``strategy``'s measure (higher: more informative)."""
    measure = MEASURES[strategy]
    if pred.proba is None and measure != "least_confident":
        raise ConfigError(
            f"strategy {strategy!r} needs class probabilities, and the predictions carry only "
            "confidences (no logits): write logits, or choose least_confident"
        )
    return box_uncertainty(pred, measure)


def select(
    strategy: StrategyConfig,
    pred: BoxPredictions | None,
    X_pool: Any,
    n_instances: int,
    random_state: int | None,
) -> tuple[np.ndarray, np.ndarray]:
    """The batch from the pool's predictions: pool positions (best first) and their scores.

    ``pred`` holds one box per pool sample, in pool order (None for ``random``, which needs
    none); ``X_pool`` is the pool's feature rows, read only by ``diverse_margin``.
    """
    check_pool(len(X_pool), n_instances)
    rng = rng_of(random_state)
    if strategy.name == "random":
        idx = rng.choice(len(X_pool), size=n_instances, replace=False)
        return idx, np.zeros(n_instances)
    scores = uncertainty(pred, strategy.name)
    if strategy.name == "diverse_margin":
        n_candidates = strategy.candidates_per_pick * n_instances
        idx = cluster_spread(X_pool, scores, n_instances, n_candidates, rng)
    else:
        idx = top_k(scores, n_instances, rng)
    return np.asarray(idx, dtype=int), scores[idx]


def metrics(truth: Sequence[Any], predicted: Sequence[Any]) -> dict[str, float]:
    """Accuracy and macro-F1 of ``predicted`` labels (None: no prediction, counted wrong)."""
    from sklearn.metrics import accuracy_score, f1_score

    y = np.asarray([str(t) for t in truth], dtype=object)
    p = np.asarray(["" if v is None else str(v) for v in predicted], dtype=object)
    return {
        "accuracy": float(accuracy_score(y, p)),
        "macro_f1": float(f1_score(y, p, labels=sorted(set(y)), average="macro", zero_division=0)),
    }
