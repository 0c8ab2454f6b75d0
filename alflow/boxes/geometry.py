"""Boxes as FiftyOne stores them (relative ``[x, y, w, h]``): checks, overlap, suppression,
and CVAT's pixel corners.

Pure functions on arrays: ``boxes`` is an ``(n, 4)`` float array of relative top-left corner,
width and height, each in [0, 1].
"""

from __future__ import annotations

import numpy as np

from alflow.errors import LabelError

WHOLE_IMAGE = (0.0, 0.0, 1.0, 1.0)


def as_boxes(boxes, where: str) -> np.ndarray:
    """``boxes`` as an ``(n, 4)`` float array, refused with one line if any is not a box
    inside the image.

    Raises:
        LabelError: a value is not finite, outside [0, 1], of no width or height, or reaches
            past the image's edge; the message names ``where`` and the first bad box.
    """
    array = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    tolerance = 1e-6
    bad = ~np.isfinite(array).all(axis=1)
    bad |= (array < -tolerance).any(axis=1) | (array > 1 + tolerance).any(axis=1)
    bad |= (array[:, 2] <= 0) | (array[:, 3] <= 0)
    bad |= (array[:, 0] + array[:, 2] > 1 + tolerance) | (array[:, 1] + array[:, 3] > 1 + tolerance)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise LabelError(
            f"{where}: box {i} is {array[i].tolist()}, not a relative [x, y, w, h] inside the "
            f"image ({int(bad.sum())} such box(es)); fix or delete it (FiftyOne boxes are "
            "fractions of the image's width and height, between 0 and 1)"
        )
    return array


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box of ``a`` with every box of ``b``, as a
    ``(len(a), len(b))`` array."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ax2, ay2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx2, by2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    w = np.minimum(ax2[:, None], bx2[None]) - np.maximum(a[:, None, 0], b[None, :, 0])
    h = np.minimum(ay2[:, None], by2[None]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(w, 0, None) * np.clip(h, 0, None)
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def pair_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of ``a[i]`` with ``b[i]``, for each row ``i``."""
    w = np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2]) - np.maximum(a[:, 0], b[:, 0])
    h = np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3]) - np.maximum(a[:, 1], b[:, 1])
    inter = np.clip(w, 0, None) * np.clip(h, 0, None)
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def nms(
    boxes: np.ndarray,
    scores: np.ndarray,
    labels: np.ndarray,
    iou: float,
    groups: np.ndarray | None = None,
) -> np.ndarray:
    """Class-wise non-maximum suppression: the indices of the boxes kept, in input order.

    Within each label (and each of ``groups``, e.g. the boxes' images), the highest-scoring box
    suppresses every box of that label overlapping it by more than ``iou``, then the next box
    still alive does, and so on; ties keep the earlier box, so the result does not depend on
    sorting. Vectorised across groups: the work is one pass per rank inside a group, so a pool
    of 100,000 images with a handful of boxes each costs a few array passes, not a loop per image.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    n = len(boxes)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    _, label_codes = np.unique(np.asarray(labels).astype(str), return_inverse=True)
    group = np.zeros(n, dtype=np.int64) if groups is None else np.asarray(groups, np.int64)
    order = np.lexsort((np.arange(n), -scores, label_codes, group))
    key = np.stack([group[order], label_codes[order]], axis=1)
    starts = np.flatnonzero(np.r_[True, (key[1:] != key[:-1]).any(axis=1)])
    size = np.diff(np.r_[starts, n])
    rank = np.arange(n) - np.repeat(starts, size)
    sorted_boxes = boxes[order]
    keep = np.zeros(n, dtype=bool)
    for r in range(int(size.max())):
        at = np.flatnonzero(rank == r)
        suppressed = np.zeros(len(at), dtype=bool)
        for back in range(1, r + 1):
            earlier = at - back
            overlap = pair_iou(sorted_boxes[at], sorted_boxes[earlier])
            suppressed |= keep[earlier] & (overlap > iou)
        keep[at] = ~suppressed
    return np.sort(order[keep])


def to_pixels(box, width: int, height: int) -> list[float]:
    """A relative ``[x, y, w, h]`` as CVAT's rectangle points ``[xtl, ytl, xbr, ybr]`` in pixels."""
    x, y, w, h = (float(v) for v in box)
    return [x * width, y * height, (x + w) * width, (y + h) * height]


def from_pixels(points, width: int, height: int) -> list[float]:
    """CVAT's rectangle points ``[xtl, ytl, xbr, ybr]`` as a relative ``[x, y, w, h]``, clipped
    to the image (annotators can drag a corner past its edge)."""
    xtl, ytl, xbr, ybr = (float(v) for v in points)
    x1, x2 = sorted((min(max(xtl / width, 0.0), 1.0), min(max(xbr / width, 0.0), 1.0)))
    y1, y2 = sorted((min(max(ytl / height, 0.0), 1.0), min(max(ybr / height, 0.0), 1.0)))
    return [x1, y1, x2 - x1, y2 - y1]
