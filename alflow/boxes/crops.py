"""Per-box features computed from the image: each box's pixels, grey, at a fixed small size.

For users with no per-box embedding: a box's crop resized to ``size`` x ``size`` (values in
[0, 1]) followed by its relative width and height, so a classifier sees both what is in the
box and how big it is. Pure: a grey image array and relative boxes in, one row per box out.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def crop_features(pixels: np.ndarray, boxes: np.ndarray, size: int = 8) -> np.ndarray:
    """``(len(boxes), size * size + 2)`` float32 features of the boxes of one grey image."""
    image = Image.fromarray(np.asarray(pixels, dtype=np.uint8))
    height, width = np.asarray(pixels).shape[:2]
    rows = np.zeros((len(boxes), size * size + 2), dtype=np.float32)
    for i, (x, y, w, h) in enumerate(np.asarray(boxes, dtype=np.float64)):
        left, top = int(np.floor(x * width)), int(np.floor(y * height))
        right = max(left + 1, int(np.ceil((x + w) * width)))
        bottom = max(top + 1, int(np.ceil((y + h) * height)))
        crop = image.crop((left, top, right, bottom)).resize((size, size), Image.BILINEAR)
        rows[i, :-2] = np.asarray(crop, dtype=np.float32).ravel() / 255.0
        rows[i, -2:] = (w, h)
    return rows
