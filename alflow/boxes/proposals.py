"""A classical box proposer for users without a detector: ink components of an image.

Pixels above a threshold, grown by one pixel so a digit's strokes join, are labelled into
connected components (``scipy.ndimage``); each component's bounding box is a proposal, and
``jitter`` seeded variants of it (shifted and rescaled) are proposals too, so that one object
is seen by several overlapping boxes as a detector's raw output sees it. Pure: an array in,
relative ``[x, y, w, h]`` boxes out.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def component_boxes(image: np.ndarray, threshold: float, min_area: int = 4) -> np.ndarray:
    """Pixel boxes ``(n, 4)`` as ``[x, y, w, h]`` of the image's connected bright regions."""
    mask = ndimage.binary_dilation(np.asarray(image) > threshold)
    labelled, _ = ndimage.label(mask, structure=np.ones((3, 3)))
    boxes = []
    for rows, cols in ndimage.find_objects(labelled):
        h, w = rows.stop - rows.start, cols.stop - cols.start
        if h * w >= min_area:
            boxes.append([cols.start, rows.start, w, h])
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4)


def jittered(boxes: np.ndarray, n: int, rng: np.random.Generator, scale: float = 0.15):
    """``n`` variants of each pixel box, shifted and resized by up to ``scale`` of its size."""
    if not n or not len(boxes):
        return np.zeros((0, 4))
    base = np.repeat(boxes, n, axis=0)
    size = base[:, 2:].copy()
    shift = rng.uniform(-scale, scale, size=size.shape) * size
    grow = 1 + rng.uniform(-scale, scale, size=size.shape)
    return np.concatenate([base[:, :2] + shift, size * grow], axis=1)


def relative(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """Pixel ``[x, y, w, h]`` boxes as FiftyOne's relative ones, clipped to the image."""
    x1 = np.clip(boxes[:, 0] / width, 0, 1)
    y1 = np.clip(boxes[:, 1] / height, 0, 1)
    x2 = np.clip((boxes[:, 0] + boxes[:, 2]) / width, 0, 1)
    y2 = np.clip((boxes[:, 1] + boxes[:, 3]) / height, 0, 1)
    out = np.stack([x1, y1, x2 - x1, y2 - y1], axis=1)
    return out[(out[:, 2] > 0) & (out[:, 3] > 0)]


def propose(
    image: np.ndarray, threshold: float, jitter: int, rng: np.random.Generator
) -> np.ndarray:
    """Relative proposals of one grey image: its components and ``jitter`` variants of each."""
    height, width = np.asarray(image).shape[:2]
    found = component_boxes(image, threshold)
    return relative(np.concatenate([found, jittered(found, jitter, rng)]), width, height)
