"""A team's own training job, as an alflow loop chains it (README "Your own model").

``train_and_predict`` stands in for the team's real training script: it fits a model on the
loop's label field (here a scikit-learn logistic regression on the digits' pixels; in real life
a PyTorch or Ultralytics script on GPUs) and rewrites the predictions field with one
``Classification`` per sample, its ``confidence`` and its ``logits`` over ``CLASSES``, in that
order. alflow calls it with four parameters after each round's ingest, either as an entry point
(``scorer.retrain = {"kind": "entry_point", "target": "examples.own_model:train_and_predict"}``)
or as a Prefect deployment of ``training_flow`` (``{"kind": "deployment", "name":
"own-model-training/digits"}``).
"""

from __future__ import annotations

import fiftyone as fo
import numpy as np
from fiftyone import ViewField as F
from prefect import flow
from sklearn.linear_model import LogisticRegression

CLASSES = [str(d) for d in range(10)]  # the order of the logits: the loop's scorer.classes
FEATURES = "pixels"


def train_and_predict(
    dataset: str, label_field: str, round_number: int, predictions_field: str
) -> int:
    """Fit on every label in ``label_field``, predict every sample into ``predictions_field``;
    returns how many samples were predicted."""
    samples = fo.load_dataset(dataset)
    # the labels to learn from: rolled-back ones are marked excluded
    known = samples.exists(label_field).match(F(f"{label_field}.excluded") != True)  # noqa: E712
    model = LogisticRegression(max_iter=500, random_state=0)
    model.fit(_features(known), np.asarray(known.values(f"{label_field}.label"), dtype=str))
    X = _features(samples)
    logits = np.full((len(X), len(CLASSES)), -30.0)  # a class not seen yet: very unlikely
    columns = [CLASSES.index(c) for c in model.classes_]
    logits[:, columns] = model.predict_log_proba(X)  # softmax(log p) = p
    proba = np.exp(logits - logits.max(axis=1, keepdims=True))
    proba /= proba.sum(axis=1, keepdims=True)
    best = proba.argmax(axis=1)
    predictions = [
        fo.Classification(
            label=CLASSES[b], confidence=float(p[b]), logits=list(z), trained_round=round_number
        )
        for b, p, z in zip(best, proba, logits, strict=True)
    ]
    samples.set_values(predictions_field, predictions)
    return len(predictions)


def _features(view) -> np.ndarray:
    return np.asarray(view.values(FEATURES), dtype=np.float64) / 16.0


@flow(name="own-model-training")
def training_flow(dataset: str, label_field: str, round_number: int, predictions_field: str) -> int:
    """The training job as a flow of its own, deployed to a work pool the team owns."""
    return train_and_predict(dataset, label_field, round_number, predictions_field)
