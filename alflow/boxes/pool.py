"""A detection loop's candidate boxes: every image's proposals and what its classifier sees of
each (the crop's pixels or an embedding stored on the proposal), read from FiftyOne.

The proposals are read raw (one projected query, no label objects built) and aligned to the
order of the loop's image ids, so box rows map to image positions as the pool's mask does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from alflow.boxes.crops import crop_features
from alflow.boxes.geometry import as_boxes
from alflow.config.detection import DetectionConfig
from alflow.data import store
from alflow.errors import DatasetError, LabelError, preview_ids


@dataclass(frozen=True)
class BoxPool:
    """Every proposal of ``ids`` (the images, in this order) as arrays.

    Attributes:
        ids: the images, in the order of the loop's feature rows.
        sample: ``(n_boxes,)`` each proposal's image position in ``ids``.
        boxes: ``(n_boxes, 4)`` relative ``[x, y, w, h]``.
        X: ``(n_boxes, d)`` float32 features of each proposal.
    """

    ids: tuple[str, ...]
    sample: np.ndarray
    boxes: np.ndarray
    X: np.ndarray

    @property
    def n_images(self) -> int:
        return len(self.ids)

    def rows_of(self, positions: Sequence[int] | np.ndarray) -> np.ndarray:
        """The proposal rows of the images at ``positions``."""
        return np.flatnonzero(np.isin(self.sample, np.asarray(positions, dtype=np.int64)))


def raw_boxes(docs: Sequence[dict] | None, where: str) -> tuple[np.ndarray, list[str]]:
    """Relative boxes and labels of a raw Detections document's ``detections`` list."""
    docs = docs or []
    boxes = [d.get("bounding_box") for d in docs]
    if any(b is None for b in boxes):
        raise LabelError(f"{where} has a detection without a bounding_box: give every box one")
    array = as_boxes(boxes, where) if boxes else np.zeros((0, 4))
    return array, [str(d.get("label")) for d in docs]


def read_box_pool(dataset, ids: Sequence[str], detection: DetectionConfig) -> BoxPool:
    """The proposals of ``ids`` from ``detection.proposals.field`` with their features.

    Raises:
        LabelError: a proposal lies outside the image, or lacks its embedding attribute.
        DatasetError: an image cannot be read for its crops.
    """
    field = detection.proposals.field
    found, (proposals, paths) = store.columns_where(
        dataset, {}, [f"{field}.detections", "filepath"]
    )
    by_id = dict(zip(found, zip(proposals, paths, strict=True), strict=True))
    missing = [sid for sid in ids if sid not in by_id]
    if missing:
        raise DatasetError(
            f"{len(missing)} image(s) of the loop are gone from the dataset "
            f"({preview_ids(missing)}); run the loop's next step to drop them"
        )
    sample, boxes, features = [], [], []
    for position, sid in enumerate(ids):
        docs, path = by_id[sid]
        b, _ = raw_boxes(docs, f"field {field!r} of sample {sid}")
        sample.append(np.full(len(b), position, dtype=np.int64))
        boxes.append(b)
        features.append(_features(docs or [], b, path, sid, detection))
    return BoxPool(
        ids=tuple(ids),
        sample=np.concatenate(sample) if sample else np.zeros(0, np.int64),
        boxes=np.concatenate(boxes) if boxes else np.zeros((0, 4)),
        X=_stacked(features),
    )


def _stacked(features: list[np.ndarray]) -> np.ndarray:
    """The per-image feature blocks as one matrix (images without proposals add no row)."""
    blocks = [f for f in features if len(f)]
    return np.concatenate(blocks).astype(np.float32) if blocks else np.zeros((0, 0), np.float32)


def _features(docs, boxes: np.ndarray, path: str, sid: str, detection: DetectionConfig):
    spec = detection.box_features
    if spec.kind == "attribute":
        values = [d.get(spec.attribute) for d in docs]
        if any(v is None for v in values):
            raise LabelError(
                f"a proposal of sample {sid} (field {detection.proposals.field!r}) has no "
                f"{spec.attribute!r} attribute: write the embedding on every proposal, or use "
                "box_features kind 'crop'"
            )
        width = len(values[0]) if values else 0
        return np.asarray(values, dtype=np.float32).reshape(len(values), width)
    return crop_features(_grey_pixels(path, sid), boxes, spec.crop_size)


def _grey_pixels(path: str, sid: str) -> np.ndarray:
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("L"))
    except (OSError, UnidentifiedImageError) as exc:
        raise DatasetError(
            f"image of sample {sid} ({path}) cannot be read for its box crops ({exc}); "
            "restore the file or delete the sample"
        ) from None
