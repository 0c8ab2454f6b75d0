"""The pure logic between a detection batch and CVAT's rectangles: pre-filled shapes out,
annotators' shapes back as boxes with provenance.

FiftyOne boxes are relative ``[x, y, w, h]``; CVAT rectangles are pixel corners
``[xtl, ytl, xbr, ybr]`` (cvat-sdk's ``LabeledShapeRequest``, type ``rectangle``), so every
conversion takes the image's size. What an annotator did to each box is named by matching the
frame's rectangles to its pre-filled ones (:func:`alflow.boxes.matching.changes`). A frame
with a shape other than a rectangle, or a track, goes back to the pool with one line saying
so: nothing of it is half-taken.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from alflow.backends.base import Unresolved
from alflow.boxes.geometry import from_pixels, to_pixels
from alflow.boxes.matching import DELETED, changes

PREFILL_SOURCE = "auto"  # CVAT's own name for shapes not drawn by a person


@dataclass(frozen=True)
class Shape:
    """One shape read from CVAT, its label already named (None: the label id is unknown)."""

    frame: int
    type: str
    points: tuple[float, ...]
    label: str | None
    label_id: int
    source: str = "manual"


@dataclass(frozen=True)
class BoxAnswer:
    """A frame's corrected boxes: relative boxes, classes and one provenance record each;
    ``deleted`` lists the pre-filled boxes the annotator removed."""

    sample_id: str
    boxes: tuple[tuple[float, float, float, float], ...]
    labels: tuple[str, ...]
    provenance: tuple[dict[str, Any], ...]
    deleted: tuple[dict[str, Any], ...] = field(default=())


def prefill_shapes(
    frames: Sequence[Sequence[tuple[Sequence[float], str]]],
    sizes: Sequence[tuple[int, int]],
    label_ids: Mapping[str, int],
) -> list[dict[str, Any]]:
    """The keyword arguments of one ``LabeledShapeRequest`` per pre-filled box.

    Args:
        frames: for each frame, its predicted ``(relative box, class)`` pairs.
        sizes: each frame's image ``(width, height)`` in pixels (from FiftyOne's metadata).
        label_ids: the task's label id of each class; a class without one is not pre-filled.
    """
    shapes = []
    for frame, (boxes, (width, height)) in enumerate(zip(frames, sizes, strict=True)):
        for box, label in boxes:
            if label in label_ids:
                shapes.append(
                    {
                        "type": "rectangle",
                        "frame": frame,
                        "label_id": label_ids[label],
                        "points": to_pixels(box, width, height),
                        "source": PREFILL_SOURCE,
                        "group": 0,
                        "attributes": [],
                    }
                )
    return shapes


def frame_answer(
    task_id: int,
    job_id: int,
    frame: int,
    sample_id: str,
    shapes: Sequence[Shape],
    size: tuple[int, int],
    prefilled: Sequence[tuple[Sequence[float], str]],
    match_iou: float,
    tracked: bool = False,
) -> BoxAnswer | Unresolved:
    """A finished frame's rectangles as boxes with provenance, or why it goes back to the pool.

    An empty frame is an answer (no objects); a frame with a track, a shape of another type
    or a label CVAT does not name is unresolved.
    """
    where = f"CVAT task {task_id} job {job_id} frame {frame} (sample {sample_id})"
    if tracked:
        return Unresolved(sample_id, f"{where} has a track; annotate boxes as shapes")
    other = sorted({s.type for s in shapes if s.type != "rectangle"})
    if other:
        return Unresolved(
            sample_id,
            f"{where} has {', '.join(other)} shapes; detection loops take rectangles: redraw "
            "them as rectangles",
        )
    unnamed = [s.label_id for s in shapes if s.label is None]
    if unnamed:
        return Unresolved(sample_id, f"{where} has a box of label id {unnamed[0]}, unknown")
    width, height = size
    boxes = [from_pixels(s.points, width, height) for s in shapes]
    labels = [str(s.label) for s in shapes]
    found = changes(
        np.asarray([b for b, _ in prefilled], dtype=np.float64).reshape(-1, 4),
        [label for _, label in prefilled],
        np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
        labels,
        match_iou,
    )
    base = {"source": "cvat", "cvat_task_id": task_id, "cvat_job_id": job_id, "cvat_frame": frame}
    provenance: list[dict[str, Any]] = [{} for _ in shapes]
    deleted = []
    for change in found:
        record = {
            **base,
            "change": change.change,
            "predicted": None if change.prefill is None else prefilled[change.prefill][1],
        }
        if change.change == DELETED:
            deleted.append({**record, "box": [float(v) for v in prefilled[change.prefill][0]]})
        else:
            provenance[change.corrected] = {
                **record,
                "cvat_source": shapes[change.corrected].source,
            }
    return BoxAnswer(
        sample_id=sample_id,
        boxes=tuple(tuple(b) for b in boxes),
        labels=tuple(labels),
        provenance=tuple(provenance),
        deleted=tuple(deleted),
    )
