"""The in-App review of a detection round: the review field's boxes become answers (pure).

For a detection loop the review field is a ``Detections`` copy of the predicted boxes, and it is
the answer: reviewers move, resize and relabel boxes, delete wrong ones and draw missing ones in
the App's annotation panel (tags are not read). Each image's boxes are compared with the ones it
was shown (:func:`alflow.backends.box_answers.box_answer`) to name every change. Until the
review is declared finished only the images whose boxes changed are answered (a partial
collect); after it, an untouched image keeps its pre-filled boxes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alflow.backends.base import Collected, Reference, Unresolved
from alflow.backends.box_answers import MATCH_IOU, box_answer
from alflow.boxes.geometry import as_boxes
from alflow.errors import LabelError


def prefill_record(boxes) -> list[list[Any]]:
    """The boxes an image is shown with, as the reference keeps them: ``[[x, y, w, h], class]``
    pairs (none before the first learner)."""
    return [[list(b.box), b.label] for b in boxes or ()]


def resolve_boxes(
    ref: Reference,
    marks: Mapping[str, Any],
    *,
    finished: bool,
    unknown_labels: str = "error",
) -> Collected:
    """Turn the review field's boxes into answers, unresolved samples and pending ones.

    ``marks`` are the surface's :class:`~alflow.backends.app_review.backend.Marks` by sample id.

    Raises:
        LabelError: a box names a class the loop does not know and ``unknown_labels`` is
            ``"error"``.
    """
    classes = set(ref.get("classes") or ())
    shown: dict[str, list] = ref.get("prefill") or {}
    match_iou = float(ref.get("match_iou", MATCH_IOU))
    answers, unresolved, pending = [], [], []
    for position, sid in enumerate(ref["sample_ids"]):
        where = f"round {ref['round']} sample {sid} (position {position} of view {ref['view']!r})"
        mark = marks.get(sid)
        prefilled = [(box, label) for box, label in shown.get(sid) or []]
        if mark is None or not mark.exists:
            unresolved.append(Unresolved(sid, f"{where} was deleted from the dataset"))
            continue
        if mark.boxes is None:
            unresolved.append(Unresolved(sid, f"the review field was removed on {where} (skipped)"))
            continue
        try:
            as_boxes([box for box, _ in mark.boxes], f"the review field of {where}")
        except LabelError as exc:
            unresolved.append(Unresolved(sid, str(exc)))
            continue
        if not finished and _same(prefilled, mark.boxes):
            pending.append(sid)
            continue
        answer = box_answer(
            sid, prefilled, mark.boxes, {"via": "review_field"}, match_iou=match_iou
        )
        unknown = sorted({b.label for b in answer.boxes or ()} - classes)
        if unknown and unknown_labels != "new_class":
            raise LabelError(
                f"the review field of {where} has boxes labelled "
                f"{', '.join(map(repr, unknown))}, not among the loop's classes "
                f"({', '.join(sorted(classes))}): relabel them in the App, or create the loop "
                "with backend.unknown_labels='new_class' to accept new classes"
            )
        answers.append(answer)
    return Collected(tuple(answers), tuple(unresolved), tuple(pending))


def _same(prefilled, boxes) -> bool:
    def key(pairs):
        return sorted((tuple(round(float(v), 9) for v in box), label) for box, label in pairs)

    return key(prefilled) == key(boxes)
