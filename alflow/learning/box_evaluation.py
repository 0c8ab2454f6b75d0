"""Detection quality as FiftyOne measures it: COCO-style mAP@[.5:.95] and mAP@.5 of a
predictions field against ground truth, by ``evaluate_detections`` (no hand-written mAP).

Nothing is stored on the dataset (no evaluation key); FiftyOne's per-phase INFO logs are
silenced for the call, since a round evaluates every time it teaches.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager


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
        at_half = view.evaluate_detections(
            pred_field, gt_field=gt_field, compute_mAP=True, iou_threshs=[0.5], progress=False
        )
    return max(float(coco.mAP()), 0.0), max(float(at_half.mAP()), 0.0)
