"""A detection answer from the boxes a person (or the simulated annotator) left on an image:
each box named by what was done to its pre-filled one (kept, moved, relabelled, added) and the
pre-filled boxes that were removed, for every backend alike.

Pure: the pre-filled guesses and the corrected boxes in, one :class:`~alflow.backends.base.Answer`
out; the backend adds its own provenance (a CVAT job, the App's reviewer, ...).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from alflow.backends.base import Answer, AnsweredBox, BoxGuess
from alflow.boxes.matching import DELETED, KEPT, changes


def box_answer(
    sample_id: str,
    prefilled: Sequence[BoxGuess],
    corrected: Sequence[tuple[Sequence[float], str]],
    match_iou: float,
    provenance: Mapping[str, Any] | None = None,
) -> Answer:
    """The corrected boxes of one image as an answer with per-box provenance.

    Every box's provenance holds ``change`` and ``predicted`` (the pre-filled class, None for
    an added box) plus ``provenance``; ``changed`` on the answer says whether anything but
    ``kept`` happened to the image's boxes.
    """
    base = dict(provenance or {})
    found = changes(
        np.asarray([g.box for g in prefilled], dtype=np.float64).reshape(-1, 4),
        [g.label for g in prefilled],
        np.asarray([b for b, _ in corrected], dtype=np.float64).reshape(-1, 4),
        [label for _, label in corrected],
        match_iou,
    )
    boxes: list[AnsweredBox | None] = [None] * len(corrected)
    deleted = []
    for change in found:
        predicted = None if change.prefill is None else prefilled[change.prefill].label
        record = {**base, "change": change.change, "predicted": predicted}
        if change.change == DELETED:
            deleted.append({**record, "box": [float(v) for v in prefilled[change.prefill].box]})
        else:
            box, label = corrected[change.corrected]
            boxes[change.corrected] = AnsweredBox(tuple(float(v) for v in box), str(label), record)
    changed = bool(deleted) or any(b.provenance["change"] != KEPT for b in boxes if b)
    return Answer(
        sample_id,
        None,
        {**base, "changed": changed},
        boxes=tuple(b for b in boxes if b is not None),
        deleted=tuple(deleted),
    )
