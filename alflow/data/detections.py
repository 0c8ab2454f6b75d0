"""A detection loop's labels in FiftyOne: Detections built with per-box provenance, their type
checked, and the boxes a loop learns from read back as plain values.

Reads go raw (one projected query, plain dicts), since a teach reads every labelled image. The
labels a loop learns from are written through FiftyOne's ``set_values``
(:func:`alflow.data.store.write_labels`), which validates them, as the classification labels
are; a round's predictions for the whole pool go as plain documents
(:func:`detections_document`), which FiftyOne reads as the same Detections.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from bson import ObjectId

from alflow.data import store
from alflow.errors import DatasetError
from alflow.services.connections import fiftyone as _fo

DETECTIONS = "Detections"
# a box as plain values: relative [x, y, w, h], class, and its attributes (provenance, confidence)
PlainBox = tuple[Sequence[float], str, Mapping[str, Any]]


def detections(boxes: Iterable[PlainBox], **attributes: Any):
    """A FiftyOne ``Detections`` of ``boxes``, with ``attributes`` on the label itself."""
    fo = _fo()
    found = []
    for box, label, extra in boxes:
        found.append(fo.Detection(label=label, bounding_box=[float(v) for v in box], **extra))
    return fo.Detections(detections=found, **attributes)


def object_ids(block: int = 1 << 16) -> Iterator[ObjectId]:
    """Fresh ObjectIds, about 10 times faster than ``ObjectId()`` (a round numbers every
    predicted box: 1.1 s of 500k boxes went to ``ObjectId()`` alone).

    They are made as MongoDB's ObjectId specification makes them: the time in seconds, then five
    random bytes, then a counter from a random start. The five bytes are drawn again for every
    block of ids (and the block is smaller than the counter's 2**24 values), so no id repeats
    one of ``ObjectId()``'s, which uses this process's own five bytes, nor one of another block.
    """
    while True:
        head = int(time.time()).to_bytes(4, "big") + os.urandom(5)
        start = int.from_bytes(os.urandom(3), "big")
        counters = (np.arange(start, start + block, dtype=np.uint64) & 0xFFFFFF).astype(">u4")
        raw = counters.tobytes()
        yield from (ObjectId(head + raw[at + 1 : at + 4]) for at in range(0, len(raw), 4))


class _SharedIds:
    """One ``object_ids`` stream for every thread (a generator alone is not thread-safe)."""

    def __init__(self) -> None:
        self._ids = object_ids()
        self._lock = threading.Lock()

    def __iter__(self) -> _SharedIds:
        return self

    def __next__(self) -> ObjectId:
        with self._lock:
            return next(self._ids)

    def take(self, n: int) -> list[ObjectId]:
        """``n`` ids at once (one lock for all of them)."""
        with self._lock:
            return list(itertools.islice(self._ids, n))


_BOX_IDS = _SharedIds()


def detections_document(boxes: Iterable[PlainBox], **attributes: Any) -> dict[str, Any]:
    """The MongoDB document FiftyOne stores for ``detections(boxes, **attributes)``, built as
    plain values: a round writes one per image of the pool, and FiftyOne's label objects
    (validated field by field) cost about 0.2 ms a box, most of a 100k-image teach."""
    found = [
        {
            "_id": next(_BOX_IDS),
            "_cls": "Detection",
            "attributes": {},
            "tags": [],
            "label": str(label),
            "bounding_box": list(map(float, box)),
            **extra,
        }
        for box, label, extra in boxes
    ]
    return {"_cls": DETECTIONS, "detections": found, **attributes}


def predicted_documents(
    sample: np.ndarray,
    boxes: np.ndarray,
    labels: np.ndarray,
    confidence: np.ndarray,
    n_images: int,
    part: int = 5_000,
    **attributes: Any,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(image row, Detections document)`` for every image ``0 .. n_images - 1`` (those without
    a box get an empty one), from the columns of a pool's predicted boxes, each box with its
    confidence: the documents :func:`detections_document` builds, made ``part`` images at a
    time from whole columns.

    A round writes one per image of the pool. Building them column-wise (one ``tolist`` per
    column, one block of ids) costs half of going box by box, and handing them out part by part
    lets the first bulk writes go to MongoDB while the next parts are built.
    """
    order = np.argsort(sample, kind="stable")
    bounds = np.searchsorted(sample[order], np.arange(n_images + 1))
    for start in range(0, n_images, part):
        stop = min(n_images, start + part)
        rows = order[bounds[start] : bounds[stop]]
        columns = (boxes[rows].astype(float).tolist(), labels[rows].astype(str).tolist())
        found = [
            {
                "_id": i,
                "_cls": "Detection",
                "attributes": {},
                "tags": [],
                "label": label,
                "bounding_box": box,
                "confidence": c,
            }
            for i, box, label, c in zip(
                _BOX_IDS.take(len(rows)), *columns, confidence[rows].tolist(), strict=True
            )
        ]
        at = bounds[start : stop + 1] - bounds[start]
        for row in range(start, stop):
            box_docs = found[at[row - start] : at[row - start + 1]]
            yield row, {"_cls": DETECTIONS, "detections": box_docs, **attributes}


def label_type(dataset, field: str) -> str | None:
    """The label class a sample field holds (``Classification``, ``Detections``, ...), or None
    for a field that holds no label."""
    schema = dataset.get_field_schema()
    if field not in schema:
        return None
    document_type = getattr(schema[field], "document_type", None)
    return None if document_type is None else document_type.__name__


def require_label_type(dataset, field: str, wanted: str, role: str) -> None:
    """Refuse a field whose label type is not ``wanted``, naming the field and its type."""
    store.require_fields(dataset, [field], role)
    found = label_type(dataset, field)
    if found != wanted:
        raise DatasetError(
            f"{role} field {field!r} of dataset {dataset.name!r} holds "
            f"{found or 'no labels'}; this loop's task needs {wanted}: name a {wanted} field"
        )


def read_boxes(
    dataset, field: str, include_excluded: bool = False, ids: Sequence[str] | None = None
) -> dict[str, list[tuple[list[float], str]]]:
    """``{sample id: [(box, label), ...]}`` of every sample ``field`` labels (an empty list: a
    labelled image without objects), or of those of ``ids``; ``include_excluded`` keeps
    rolled-back labels."""
    if not store.has_fields(dataset, [field]):
        return {}
    present: dict[str, Any] = {field: {"$exists": True, "$ne": None}}
    if ids is not None:
        present["_id"] = {"$in": [ObjectId(sid) for sid in ids]}
    ids, (docs, excluded) = store.columns_where(
        dataset, present, [f"{field}.detections", f"{field}.excluded"]
    )
    return {
        sid: [(list(d["bounding_box"]), str(d["label"])) for d in (boxes or [])]
        for sid, boxes, x in zip(ids, docs, excluded, strict=True)
        if include_excluded or not x
    }
