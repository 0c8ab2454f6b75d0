"""A model's own predictions, as FiftyOne stores them, read into per-box predictions.

For a team whose model alflow does not own: its ``Classification`` labels (a ``confidence``
and, where present, ``logits`` over the model's classes) become one whole-image box per sample;
its ``Detections`` (per-box ``confidence`` and, where present, per-box class probabilities in a
named attribute) become boxes. Both land in :class:`alflow.boxes.predictions.BoxPredictions`,
the record alflow's own learners produce, so every probability-only strategy reads them alike.
Pure: label objects in (anything with FiftyOne's attribute names), arrays out; bad input is
refused with one line naming the field, the sample and the fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from alflow.boxes.geometry import WHOLE_IMAGE, as_boxes
from alflow.boxes.predictions import BoxPredictions
from alflow.errors import LabelError, preview_ids


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, shifted by each row's maximum so large logits do not overflow."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def _missing(field: str, ids: Sequence[str], values: Sequence[Any]) -> None:
    absent = [sid for sid, v in zip(ids, values, strict=True) if v is None]
    if absent:
        raise LabelError(
            f"field {field!r} has no prediction on {len(absent)} sample(s) "
            f"({preview_ids(absent)}): run the model on every sample of the pool first"
        )


def _confidence(field: str, sample_id: str, value: Any) -> float:
    confidence = getattr(value, "confidence", None)
    if confidence is None:
        raise LabelError(
            f"field {field!r} of sample {sample_id} has a prediction without a confidence: "
            "write each prediction's confidence (the probability of its label)"
        )
    if not np.isfinite(confidence) or not 0.0 <= confidence <= 1.0:
        raise LabelError(
            f"field {field!r} of sample {sample_id} has confidence {confidence!r}; write a "
            "probability between 0 and 1"
        )
    return float(confidence)


def _scores(field: str, sample_id: str, raw: Any, classes: Sequence[str], what: str):
    vector = np.asarray(raw, dtype=np.float64).ravel()
    if len(vector) != len(classes):
        raise LabelError(
            f"field {field!r} of sample {sample_id} has {what} of length {len(vector)} for "
            f"{len(classes)} classes ({', '.join(classes)}): write one value per class, in "
            "that order, or correct the loop's class list"
        )
    if not np.isfinite(vector).all():
        raise LabelError(f"field {field!r} of sample {sample_id} has NaN or infinite {what}")
    return vector


def from_classifications(
    field: str,
    ids: Sequence[str],
    values: Sequence[Any],
    classes: Sequence[str],
    logits: str | None = "logits",
) -> BoxPredictions:
    """A ``Classification`` field's predictions, one whole-image box per sample.

    Class probabilities come from the ``logits`` attribute when every prediction has it
    (softmax over ``classes``, in that order); when none has it (or ``logits`` is None) each
    box carries only its confidence. Some predictions with logits and some without are refused.
    """
    _missing(field, ids, values)
    confidence = np.array([_confidence(field, s, v) for s, v in zip(ids, values, strict=True)])
    labels = np.array([str(v.label) for v in values], dtype=object)
    proba = None
    raw = [None if logits is None else getattr(v, logits, None) for v in values]
    without = [sid for sid, r in zip(ids, raw, strict=True) if r is None]
    if values and len(without) < len(values):
        if without:
            raise LabelError(
                f"field {field!r} has {logits!r} on {len(values) - len(without)} of "
                f"{len(values)} predictions, none on {preview_ids(without)}: write them on "
                "every prediction, or on none"
            )
        proba = softmax(
            np.stack(
                [_scores(field, s, r, classes, "logits") for s, r in zip(ids, raw, strict=True)]
            )
        )
    n = len(ids)
    return BoxPredictions(
        sample=np.arange(n),
        boxes=np.tile(np.asarray(WHOLE_IMAGE), (n, 1)),
        labels=labels,
        confidence=confidence,
        proba=proba,
        classes=tuple(classes),
        n_samples=n,
    )


def from_detections(
    field: str,
    ids: Sequence[str],
    values: Sequence[Any],
    classes: Sequence[str],
    probabilities: str | None = None,
) -> BoxPredictions:
    """A ``Detections`` field's boxes: per-box confidence and, with ``probabilities`` (the
    name of each detection's attribute holding one probability per class), class probabilities.

    A sample whose ``Detections`` is empty has no boxes (and scores 0); a sample with no value
    at all was not predicted and is refused.
    """
    _missing(field, ids, values)
    sample, boxes, labels, confidence, proba = [], [], [], [], []
    for position, (sid, value) in enumerate(zip(ids, values, strict=True)):
        for detection in value.detections:
            sample.append(position)
            boxes.append(detection.bounding_box)
            labels.append(str(detection.label))
            confidence.append(_confidence(field, sid, detection))
            if probabilities:
                raw = getattr(detection, probabilities, None)
                if raw is None:
                    raise LabelError(
                        f"field {field!r} of sample {sid} has a box without its "
                        f"{probabilities!r} attribute: write it on every box, or leave the "
                        "loop's probabilities attribute unset"
                    )
                proba.append(_probabilities(field, sid, raw, classes, probabilities))
    return BoxPredictions(
        sample=np.asarray(sample, dtype=np.int64),
        boxes=_boxes(field, [ids[i] for i in sample], boxes),
        labels=np.asarray(labels, dtype=object),
        confidence=np.asarray(confidence, dtype=np.float64),
        proba=np.asarray(proba).reshape(-1, len(classes)) if probabilities else None,
        classes=tuple(classes),
        n_samples=len(ids),
    )


def _probabilities(field: str, sample_id: str, raw: Any, classes: Sequence[str], name: str):
    vector = _scores(field, sample_id, raw, classes, f"{name!r}")
    if (vector < 0).any() or (vector > 1).any():
        raise LabelError(
            f"field {field!r} of sample {sample_id} has a box whose {name!r} are not "
            f"probabilities ({vector.tolist()}): write values between 0 and 1, one per class"
        )
    return vector


def _boxes(field: str, box_ids: Sequence[str], boxes: list[Any]) -> np.ndarray:
    """Every box checked at once; a bad one is refused naming its sample."""
    if not boxes:
        return np.zeros((0, 4))
    try:
        return as_boxes(boxes, f"field {field!r}")
    except LabelError:
        for sid, box in zip(box_ids, boxes, strict=True):
            as_boxes([box], f"field {field!r} of sample {sid}")
        raise
