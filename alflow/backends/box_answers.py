"""A detection answer from the pre-filled and the corrected boxes of one image (pure).

Every backend that pre-fills boxes (CVAT's rectangles, the App's review field) names what the
annotator did to each box the same way: corrected boxes are matched to the pre-filled ones by
overlap (:func:`alflow.boxes.matching.changes`) and each gets ``change`` (kept, moved,
relabelled, added) and ``predicted`` (the pre-filled class, None for an added box); the
pre-filled boxes nobody kept are recorded as ``deleted``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from alflow.backends.base import Answer, AnsweredBox
from alflow.boxes.matching import DELETED, KEPT, changes

MATCH_IOU = 0.5  # a corrected box is its pre-fill's correction at this overlap or more
Pair = tuple[Sequence[float], str]  # a relative [x, y, w, h] box and its class


def box_answer(
    sample_id: str,
    prefilled: Sequence[Pair],
    corrected: Sequence[Pair],
    provenance: Mapping[str, Any],
    *,
    match_iou: float = MATCH_IOU,
    per_box: Sequence[Mapping[str, Any]] | None = None,
) -> Answer:
    """The answer for one image: the corrected boxes, each with ``provenance``, its change,
    its pre-filled class and its ``per_box`` record; the deleted pre-fills beside them.

    Args:
        sample_id: the image's sample id.
        prefilled: the boxes the annotator was shown.
        corrected: the boxes the annotator left.
        provenance: the backend's record of where the answer came from (task, job, ...), on
            the answer itself and on every box.
        match_iou: the overlap at which a corrected box counts as a pre-filled box's correction.
        per_box: one more record for each corrected box (e.g. CVAT's shape source).
    """
    found = changes(
        np.asarray([box for box, _ in prefilled], dtype=np.float64).reshape(-1, 4),
        [label for _, label in prefilled],
        np.asarray([box for box, _ in corrected], dtype=np.float64).reshape(-1, 4),
        [label for _, label in corrected],
        match_iou,
    )
    extra = per_box or [{} for _ in corrected]
    boxes: list[AnsweredBox | None] = [None] * len(corrected)
    deleted = []
    for change in found:
        record = {
            **provenance,
            "change": change.change,
            "predicted": None if change.prefill is None else prefilled[change.prefill][1],
        }
        if change.change == DELETED:
            deleted.append({**record, "box": [float(v) for v in prefilled[change.prefill][0]]})
        else:
            box, label = corrected[change.corrected]
            boxes[change.corrected] = AnsweredBox(
                tuple(float(v) for v in box), label, {**record, **extra[change.corrected]}
            )
    # the image counts as changed by the annotator when any box was not kept as shown
    changed = bool(deleted) or any(b.provenance["change"] != KEPT for b in boxes if b)
    return Answer(
        sample_id,
        None,
        {**provenance, "changed": changed},
        boxes=tuple(b for b in boxes if b),
        deleted=tuple(deleted),
    )
