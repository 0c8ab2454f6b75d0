"""A detection label-efficiency simulation: rounds of query and teach with the ground truth as
annotator, measured by FiftyOne's own ``evaluate_detections`` on a held-out split.

The loop in miniature, in this process: the box learner (:mod:`alflow.learning.box_learner`)
is fitted on the proposals of the labelled images (each proposal learns the class of the
ground-truth box it overlaps, else background), scores every proposal, and the next batch is
chosen from the image scores (:mod:`alflow.boxes.image_scores`) or at random. Each round
records the images and boxes labelled so far and mAP@[.5:.95] and mAP@.5 of the held-out
images, so a strategy is judged by what its labels cost in images and in boxes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from PIL import Image

from alflow.boxes.crops import crop_features
from alflow.boxes.image_scores import image_scores, select_images
from alflow.boxes.matching import proposal_labels
from alflow.config.detection import DetectionConfig
from alflow.config.estimators import EstimatorConfig
from alflow.errors import ConfigError
from alflow.learning import box_evaluation
from alflow.learning.box_learner import fit_boxes, objects, predict_boxes
from alflow.strategies.selectors import cluster_spread

EVAL_FIELD = "alflow_simulated_detections"
Selection = Literal["uncertainty", "random"]


@dataclass(frozen=True)
class DetectionPool:
    """A dataset's images as arrays, read once: proposals with their features and the answers
    the simulated annotator gives (the class each proposal learns once its image is labelled).
    """

    ids: list[str]
    sample: np.ndarray  # (n_boxes,) the image position of each proposal
    boxes: np.ndarray  # (n_boxes, 4) relative proposals
    X: np.ndarray  # (n_boxes, d) per-proposal features
    answers: np.ndarray  # (n_boxes,) each proposal's class by the ground truth
    objects_per_image: np.ndarray  # (n_images,) ground-truth boxes: the cost of labelling one
    image_features: np.ndarray  # (n_images, f) for diversity


def read_pool(
    dataset, detection: DetectionConfig, ground_truth: str, image_field: str
) -> DetectionPool:
    """The dataset's proposals, their crop features and the ground truth's answers."""
    if detection.box_features.kind != "crop":
        raise ConfigError("the detection simulation computes crop features: use kind 'crop'")
    ids, paths, proposals, truth, thumbs = dataset.values(
        ["id", "filepath", f"{detection.proposals.field}.detections", ground_truth, image_field]
    )
    sample, boxes, X, answers, counts = [], [], [], [], []
    for i, (path, props, gt) in enumerate(zip(paths, proposals, truth, strict=True)):
        props = props or []
        b = np.asarray([d.bounding_box for d in props], dtype=np.float64).reshape(-1, 4)
        gt_boxes = np.asarray([d.bounding_box for d in gt.detections]).reshape(-1, 4)
        pixels = np.asarray(Image.open(path).convert("L"))
        sample.append(np.full(len(b), i))
        boxes.append(b)
        X.append(crop_features(pixels, b, detection.box_features.crop_size))
        answers.append(
            proposal_labels(b, gt_boxes, [d.label for d in gt.detections], detection.match_iou)
        )
        counts.append(len(gt.detections))
    return DetectionPool(
        ids=list(ids),
        sample=np.concatenate(sample).astype(np.int64),
        boxes=np.concatenate(boxes),
        X=np.concatenate(X),
        answers=np.concatenate(answers),
        objects_per_image=np.asarray(counts),
        image_features=np.asarray(thumbs, dtype=np.float32),
    )


def split(n_images: int, eval_fraction: float, initial: int, random_state: int):
    """Held-out positions and the initially labelled ones, drawn from ``random_state``."""
    order = np.random.default_rng(random_state).permutation(n_images)
    n_eval = round(eval_fraction * n_images)
    return np.sort(order[:n_eval]), order[n_eval : n_eval + initial]


def mean_average_precision(dataset, pool: DetectionPool, found, eval_pos, ground_truth: str):
    """mAP@[.5:.95] and mAP@.5 of the held-out images' predicted objects, by FiftyOne."""
    import fiftyone as fo

    view = dataset.select([pool.ids[i] for i in eval_pos], ordered=True)
    view.set_values(
        EVAL_FIELD,
        [
            fo.Detections(
                detections=[
                    fo.Detection(label=label, bounding_box=box, confidence=conf)
                    for box, label, conf in found[i]
                ]
            )
            for i in eval_pos
        ],
    )
    return box_evaluation.mean_average_precision(view, EVAL_FIELD, ground_truth)


def next_batch(
    pool: DetectionPool,
    pred,
    candidates: np.ndarray,
    detection: DetectionConfig,
    selection: Selection,
    diversity: bool,
    batch_size: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """The next batch's image positions from the unlabelled, non-held-out ``candidates``."""
    if selection == "random":
        return rng.permutation(candidates)[:batch_size]
    scores = image_scores(
        pred,
        detection.measure,
        detection.aggregation,
        detection.top_k,
        detection.nms_iou,
        detection.class_balance,
        detection.min_score,
    )
    batch = select_images(scores, candidates, batch_size, detection.batch_unit)
    if not diversity or len(batch) >= len(candidates):
        return batch
    picked = cluster_spread(
        pool.image_features[candidates], scores.scores[candidates], len(batch), 3 * len(batch), rng
    )
    return candidates[picked]


def simulate_detection(
    dataset,
    pool: DetectionPool,
    detection: DetectionConfig,
    estimator: EstimatorConfig,
    ground_truth: str,
    selection: Selection = "uncertainty",
    diversity: bool = False,
    initial: int = 20,
    batch_size: int = 20,
    rounds: int = 5,
    eval_fraction: float = 0.2,
    random_state: int = 0,
) -> list[dict[str, Any]]:
    """One learning curve: a row per round (round 0 is the initial labels)."""
    n_images = len(pool.ids)
    eval_pos, labelled = split(n_images, eval_fraction, initial, random_state)
    rng = np.random.default_rng([random_state, 1])
    rows = []
    for number in range(rounds + 1):
        taught = np.isin(pool.sample, labelled)
        learner = fit_boxes(estimator, pool.X[taught], pool.answers[taught], random_state)
        pred = predict_boxes(learner, pool.X, pool.sample, pool.boxes, n_images)
        found = objects(pred, detection.nms_iou)
        m, m50 = mean_average_precision(dataset, pool, found, eval_pos, ground_truth)
        rows.append(
            {
                "round": number,
                "images": len(labelled),
                "boxes": int(pool.objects_per_image[labelled].sum()),
                "mAP": m,
                "mAP50": m50,
            }
        )
        if number == rounds:
            break
        candidates = np.setdiff1d(np.arange(n_images), np.concatenate([eval_pos, labelled]))
        if not len(candidates):
            break
        batch = next_batch(pool, pred, candidates, detection, selection, diversity, batch_size, rng)
        labelled = np.concatenate([labelled, batch])
    return rows
