"""Detection quality as FiftyOne measures it: COCO-style mAP@[.5:.95] and mAP@.5 of a
predictions field against ground truth, by ``evaluate_detections`` (no hand-written mAP).

Nothing is stored on the dataset (no evaluation key); FiftyOne's per-phase INFO logs are
silenced for the call, since a round evaluates every time it teaches.

One evaluation gives both figures: FiftyOne's COCO results keep the precision table of every
IoU threshold (0.50 to 0.95), and mAP@.5 is FiftyOne's own ``mAP()`` averaging restricted to the
0.50 row. A second ``evaluate_detections`` at ``iou_threshs=[0.5]`` gives the same number (a
test checks it) but reads and matches every image twice more: half a detection teach's time.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager

import numpy as np


@contextmanager
def _quiet_fiftyone():
    logger = logging.getLogger("fiftyone")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def mean_average_precision(view, pred_field: str, gt_field: str) -> tuple[float, float]:
    """``(mAP@[.5:.95], mAP@.5)`` of ``pred_field`` on ``view``'s images (0 for an empty view
    or one without a single predicted box, where FiftyOne reports -1)."""
    if not len(view):
        return 0.0, 0.0
    with _quiet_fiftyone():
        coco = view.evaluate_detections(
            pred_field, gt_field=gt_field, compute_mAP=True, progress=False
        )
    return max(float(coco.mAP()), 0.0), max(at_iou(coco, 0.5), 0.0)


def at_iou(results, iou: float) -> float:
    """FiftyOne's ``mAP()`` of COCO ``results`` at one of their IoU thresholds: the precision
    averaged over recall per class, then over the classes that have any (AP > -1)."""
    row = np.flatnonzero(np.isclose(results.iou_threshs, iou))
    if not row.size:
        raise ValueError(f"IoU {iou} is not one of the evaluation's {list(results.iou_threshs)}")
    classwise = np.mean(results.precision[row[0]], axis=1)
    kept = classwise[classwise > -1]
    return float(np.mean(kept)) if kept.size else -1.0
