"""The simulated annotator: answers every sample at once from the ground-truth field.

It stands in for people in the demo, the benchmark and the tests. It reads ground truth through
a callable, so the loop itself never touches that field: only this backend and evaluation do.
For a detection batch the ground truth is each image's boxes, compared with the pre-filled
ones as a person's corrections are (:mod:`alflow.backends.box_answers`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from alflow.backends.base import (
    DETECTION,
    Answer,
    Batch,
    Collected,
    Progress,
    Reference,
    Unresolved,
)
from alflow.backends.box_answers import box_answer

# a class per sample, or for a detection loop its (box, class) pairs
GroundTruth = Callable[[list[str]], Mapping[str, Any]]


class OracleBackend:
    """Annotation backend whose 'annotators' are the ground-truth labels."""

    kind = "oracle"

    def __init__(self, ground_truth: GroundTruth, field: str, match_iou: float = 0.5) -> None:
        self._ground_truth = ground_truth
        self._field = field
        self._match_iou = match_iou

    def export(self, batch: Batch, save_ref, *, ref=None, force_new: bool = False) -> Reference:
        if ref and not force_new:
            return ref
        ref = {
            "kind": self.kind,
            "sample_ids": batch.sample_ids,
            "predicted": {i.sample_id: i.predicted for i in batch.items},
        }
        if batch.task == DETECTION:
            ref["task"] = DETECTION
            ref["predicted"] = {
                i.sample_id: [[list(g.box), g.label, g.confidence] for g in i.boxes or ()]
                for i in batch.items
            }
        save_ref(ref)
        return ref

    def progress(self, ref: Reference) -> Progress:
        n = len(ref["sample_ids"])
        return Progress(done=n, total=n)

    def collect(self, ref: Reference, *, partial: bool = False) -> Collected:
        truth = self._ground_truth(list(ref["sample_ids"]))
        predicted = ref.get("predicted", {})
        answers, unresolved = [], []
        for sid in ref["sample_ids"]:
            label = truth.get(sid)
            if label is None:
                unresolved.append(Unresolved(sid, f"no ground truth in field {self._field!r}"))
            elif ref.get("task") == DETECTION:
                shown = [(b, c) for b, c, _ in predicted.get(sid, [])]
                answers.append(box_answer(sid, shown, label, {}, match_iou=self._match_iou))
            else:
                answers.append(Answer(sid, label, {"changed": label != predicted.get(sid)}))
        return Collected(answers=tuple(answers), unresolved=tuple(unresolved))

    def cancel(self, ref: Reference) -> None:
        """Nothing is outstanding: the oracle answers at once."""
