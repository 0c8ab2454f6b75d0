"""Retraining entry points for the own-model tests (importable by name, as a loop calls them)."""

from __future__ import annotations

import numpy as np

CALLS: list[dict] = []


def record_only(**params) -> None:
    """Retrains nothing and rewrites nothing: the next query finds the predictions stale."""
    CALLS.append(params)


def out_of_memory(**params) -> None:
    """A training job that fails."""
    CALLS.append(params)
    raise RuntimeError("CUDA out of memory")


DIGITS = [str(d) for d in range(10)]  # a box detector's classes, in its probabilities' order


def box_confidences(round_number: int, n_boxes: list[int]) -> list[np.ndarray]:
    """Each image's box confidences as :func:`box_detector` writes them for a round."""
    rng = np.random.default_rng(1000 + round_number)
    return [rng.uniform(0.35, 0.99, size=n) for n in n_boxes]


def box_probabilities(confidence: float, label: str) -> list[float]:
    """A box's class probabilities: its confidence on its label, the rest spread evenly."""
    p = np.full(len(DIGITS), (1.0 - confidence) / (len(DIGITS) - 1))
    p[DIGITS.index(label)] = confidence
    return p.tolist()


def box_detector(dataset: str, label_field: str, round_number: int, predictions_field: str):
    """A team's detector standing in: every image's ground-truth boxes, with confidences drawn
    anew each round (and per-box probabilities in ``probs``), written to every sample."""
    import fiftyone as fo

    CALLS.append(
        {
            "dataset": dataset,
            "label_field": label_field,
            "round_number": round_number,
            "predictions_field": predictions_field,
        }
    )
    samples = fo.load_dataset(dataset)
    truth = samples.values("ground_truth.detections")
    found = box_confidences(round_number, [len(t or []) for t in truth])
    values = [
        fo.Detections(
            detections=[
                fo.Detection(
                    label=d.label,
                    bounding_box=list(d.bounding_box),
                    confidence=float(c),
                    probs=box_probabilities(float(c), d.label),
                )
                for d, c in zip(boxes or [], confidences, strict=True)
            ],
            trained_round=round_number,
        )
        for boxes, confidences in zip(truth, found, strict=True)
    ]
    samples.set_values(predictions_field, values)
