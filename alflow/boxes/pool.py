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
from alflow.data.vectors import decode_vectors
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
    """The proposals of ``ids`` from ``detection.proposals.field`` with their features, read
    afresh (one projected query of those samples). A loop's steps read the whole pool through
    :func:`alflow.boxes.cache.cached_box_pool`, which calls this only for changed images.

    Raises:
        LabelError: a proposal lies outside the image, or lacks its embedding attribute.
        DatasetError: an image is gone from the dataset, or cannot be read for its crops.
    """
    return build_box_pool(ids, read_raw(dataset, ids, detection), detection)


def raw_paths(detection: DetectionConfig) -> list[str]:
    """The raw document paths a pool is built from: the proposals and the image's file."""
    return [f"{detection.proposals.field}.detections", "filepath"]


def read_raw(dataset, ids: Sequence[str], detection: DetectionConfig) -> list[tuple]:
    """Each image's raw ``(proposal documents, filepath)``, in the order of ``ids``.

    Raises:
        DatasetError: some of ``ids`` are gone from the dataset.
    """
    by_id = store.raw_columns_of(dataset, ids, raw_paths(detection))
    missing = [sid for sid in ids if sid not in by_id]
    if missing:
        raise DatasetError(
            f"{len(missing)} image(s) of the loop are gone from the dataset "
            f"({preview_ids(missing)}); run the loop's next step to drop them"
        )
    return [by_id[sid] for sid in ids]


def build_box_pool(ids: Sequence[str], raw: Sequence[tuple], detection: DetectionConfig) -> BoxPool:
    """The pool of ``ids`` from each image's raw ``(proposal documents, filepath)``."""
    field = detection.proposals.field
    sample, boxes, crops, attributes = [], [], [], []
    for position, (sid, (docs, path)) in enumerate(zip(ids, raw, strict=True)):
        b, _ = raw_boxes(docs, f"field {field!r} of sample {sid}")
        sample.append(np.full(len(b), position, dtype=np.int64))
        boxes.append(b)
        if detection.box_features.kind == "attribute":
            attributes += _attributes(docs or [], sid, detection)
        else:
            crops.append(_crops(b, path, sid, detection))
    n_boxes = sum(len(b) for b in boxes)
    X = (
        _vectors(attributes, ids, np.concatenate(sample) if sample else [], detection)
        if detection.box_features.kind == "attribute"
        else _stacked(crops)
    )
    return BoxPool(
        ids=tuple(ids),
        sample=np.concatenate(sample) if sample else np.zeros(0, np.int64),
        boxes=np.concatenate(boxes) if n_boxes else np.zeros((0, 4)),
        X=X,
    )


def _stacked(features: list[np.ndarray]) -> np.ndarray:
    """The per-image feature blocks as one matrix (images without proposals add no row)."""
    blocks = [f for f in features if len(f)]
    return np.concatenate(blocks).astype(np.float32) if blocks else np.zeros((0, 0), np.float32)


def _attributes(docs, sid: str, detection: DetectionConfig) -> list:
    spec = detection.box_features
    values = [d.get(spec.attribute) for d in docs]
    if any(v is None for v in values):
        raise LabelError(
            f"a proposal of sample {sid} (field {detection.proposals.field!r}) has no "
            f"{spec.attribute!r} attribute: write the embedding on every proposal, or use "
            "box_features kind 'crop'"
        )
    return values


def _vectors(values: list, ids: Sequence[str], sample, detection: DetectionConfig) -> np.ndarray:
    """Every proposal's embedding as one float32 matrix: FiftyOne's stored arrays (as its
    patch embeddings write them) decoded in one pass, or plain lists of numbers."""
    if not values:
        return np.zeros((0, 0), np.float32)
    decoded = decode_vectors(values)
    if isinstance(decoded, np.ndarray) and decoded.ndim == 2:
        X = decoded.astype(np.float32)
    else:
        rows = [np.asarray(v, dtype=np.float64).ravel() for v in decoded]
        widths = {len(r) for r in rows}
        if len(widths) != 1:
            first = next(i for i, r in enumerate(rows) if len(r) != len(rows[0]))
            raise LabelError(
                f"the {detection.box_features.attribute!r} vectors of field "
                f"{detection.proposals.field!r} have lengths {sorted(widths)} (sample "
                f"{ids[int(sample[first])]}): write one length for every proposal"
            )
        X = np.stack(rows).astype(np.float32)
    bad = ~np.isfinite(X).all(axis=1)
    if bad.any():
        raise LabelError(
            f"{int(bad.sum())} proposal(s) of field {detection.proposals.field!r} have NaN or "
            f"infinite {detection.box_features.attribute!r} values (sample "
            f"{ids[int(sample[np.flatnonzero(bad)[0]])]}): write finite embeddings"
        )
    return X


def _crops(boxes: np.ndarray, path: str, sid: str, detection: DetectionConfig) -> np.ndarray:
    if not len(boxes):  # nothing to crop: the image is not opened
        return np.zeros((0, 0), np.float32)
    return crop_features(_grey_pixels(path, sid), boxes, detection.box_features.crop_size)


def _grey_pixels(path: str, sid: str) -> np.ndarray:
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("L"))
    except (OSError, UnidentifiedImageError) as exc:
        raise DatasetError(
            f"image of sample {sid} ({path}) cannot be read for its box crops ({exc}); "
            "restore the file or delete the sample"
        ) from None
