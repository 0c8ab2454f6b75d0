"""Review in the FiftyOne App: reviewers correct the learner's guesses on the dataset itself.

Export puts the round's batch on a *review surface* in the dataset: every sample gets the
round's number in the round field (``al_<slug>_round``, a display aid: the batch is the ledger's
``sample_ids``), a loop-owned review field (``al_<slug>_review``) pre-filled with the learner's
prediction, and the batch is saved as the view ``<loop>-round-NNN`` in query order. The reviewer
corrects wrong predictions in the App, either way:

* **tag** the sample with the right class name, or
* **edit** the review field's label in the App's annotation panel (its label schema offers the
  loop's classes).

Nothing counts until the review is declared finished (``alflow review finish`` or the App's
update operator), which the ledger records in the round's reference: only then does
:meth:`AppReviewBackend.progress` report the batch finished, and unmarked samples count as
accepted predictions. Before that, ``collect(partial=True)`` takes only the samples the
reviewer marked.

The surface is the backend's own annotation medium, like a CVAT task is the CVAT backend's, so
the backend writes it (through :class:`ReviewSurface`); it never writes the loop's label field,
predictions or the ledger: the ingest step does, as for every backend.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from alflow.backends.app_review.boxes import prefill_record, resolve_boxes
from alflow.backends.base import (
    DETECTION,
    Answer,
    Batch,
    Collected,
    Progress,
    Reference,
    Unresolved,
)
from alflow.errors import LabelError

REF_VERSION = 1


@dataclass(frozen=True)
class Marks:
    """What the reviewer left on one sample: its tags and the review field's label.

    ``exists`` is False when the sample is gone from the dataset; ``review`` is None when the
    review label was removed (the way to skip a sample nobody can label). A detection review
    reads the review field's ``boxes`` (``(relative box, class)`` pairs; None: the field was
    removed) instead of ``review``.
    """

    tags: tuple[str, ...]
    review: str | None
    exists: bool = True
    boxes: tuple[tuple[tuple[float, ...], str], ...] | None = None  # a detection review's


class ReviewSurface(Protocol):
    """Where a round's batch is shown to reviewers (the FiftyOne dataset, in practice)."""

    def show(self, batch: Batch) -> dict[str, Any]:
        """Number, pre-fill and save the view of ``batch``; returns names for the reference."""
        ...

    def read(self, sample_ids: Sequence[str]) -> Mapping[str, Marks]:
        """The reviewer's marks on each sample."""
        ...

    def withdraw(self, ref: Reference) -> None:
        """Take a cancelled batch off the surface (round number, review values, saved view)."""
        ...


def review_finished(ref: Reference) -> bool:
    """Whether someone declared the review of this round finished (recorded in the ledger)."""
    return bool(ref.get("review_finished"))


def resolve_marks(
    ref: Reference,
    marks: Mapping[str, Marks],
    *,
    finished: bool,
    unknown_labels: str = "error",
) -> Collected:
    """Turn the reviewer's marks into answers, unresolved samples and pending ones.

    A class-name tag and an edited review label are both corrections; when both are present
    and disagree, or two class tags are present, the sample is unresolved. Tags that are not
    class names are never read. Until the review is ``finished`` an unmarked sample is pending;
    after it, it accepts the prediction.

    Raises:
        LabelError: a review label names a class the loop does not know and ``unknown_labels``
            is ``"error"``.
    """
    classes = set(ref.get("classes") or ())
    predicted: dict[str, str | None] = ref.get("predicted") or {}
    answers, unresolved, pending = [], [], []
    for position, sid in enumerate(ref["sample_ids"]):
        where = f"round {ref['round']} sample {sid} (position {position} of view {ref['view']!r})"
        outcome = _resolve_one(sid, marks.get(sid), predicted.get(sid), classes, where)
        if outcome is None or outcome == "accept":  # unmarked
            if not finished:
                pending.append(sid)
                continue
            outcome = (
                Unresolved(sid, f"no label given for {where}")
                if outcome is None
                else Answer(sid, str(predicted[sid]), _provenance(ref, sid, "accepted"))
            )
        if isinstance(outcome, Answer) and outcome.label not in classes:
            _check_unknown(outcome.label, classes, where, unknown_labels)
        (answers if isinstance(outcome, Answer) else unresolved).append(outcome)
    return Collected(tuple(answers), tuple(unresolved), tuple(pending))


def _resolve_one(
    sid: str, marks: Marks | None, predicted: str | None, classes: set[str], where: str
) -> Answer | Unresolved | str | None:
    """One sample's outcome: an answer, unresolved, ``"accept"`` (unmarked) or None (no label)."""
    if marks is None or not marks.exists:
        return Unresolved(sid, f"{where} was deleted from the dataset")
    class_tags = sorted(set(marks.tags) & classes)
    if len(class_tags) > 1:
        return Unresolved(sid, f"{len(class_tags)} class tags ({', '.join(class_tags)}) on {where}")
    tag = class_tags[0] if class_tags else None
    edited = marks.review if marks.review != predicted else None
    if tag and edited and tag != edited:
        return Unresolved(
            sid, f"tag {tag!r} and review label {edited!r} disagree on {where}; keep one"
        )
    label = tag or edited
    if label is not None:
        via = "tag" if tag else "review_field"
        return Answer(
            sid, label, {"via": via, "predicted": predicted, "changed": label != predicted}
        )
    if marks.review is None:
        if predicted is None:
            return None  # cold start: nothing to accept
        return Unresolved(sid, f"review label removed on {where} (skipped)")
    return "accept"


def _provenance(ref: Reference, sid: str, via: str) -> dict[str, Any]:
    return {"via": via, "predicted": ref["predicted"].get(sid), "changed": False}


def _check_unknown(label: str, classes: set[str], where: str, policy: str) -> None:
    if policy == "new_class":
        return
    raise LabelError(
        f"the review label {label!r} on {where} is not one of the loop's classes "
        f"({', '.join(sorted(classes))}): change it in the App, or create the loop with "
        "backend.unknown_labels='new_class' to accept new classes"
    )


def _detection_record(batch: Batch) -> dict[str, Any]:
    """What a detection round's reference adds: the boxes each image was shown with."""
    if batch.task != DETECTION:
        return {}
    return {
        "task": DETECTION,
        "match_iou": batch.match_iou,
        "prefill": {i.sample_id: prefill_record(i.boxes) for i in batch.items},
    }


class AppReviewBackend:
    """Annotation backend whose annotators review the batch in the FiftyOne App."""

    kind = "app"

    def __init__(self, surface: ReviewSurface, unknown_labels: str = "error") -> None:
        self._surface = surface
        self._unknown_labels = unknown_labels

    def export(
        self,
        batch: Batch,
        save_ref: Callable[[Reference], None],
        *,
        ref: Reference | None = None,
        force_new: bool = False,
    ) -> Reference:
        """Show the batch; a completed earlier export is reused unless ``force_new``.

        The reference is saved only once the surface is complete (writing it is idempotent),
        so an export interrupted half-way is simply done again by the next step.
        """
        if ref and ref.get("shown") and not force_new:
            return ref
        names = self._surface.show(batch)
        ref = {
            "version": REF_VERSION,
            "kind": self.kind,
            "round": batch.round_number,
            "sample_ids": batch.sample_ids,
            "predicted": {i.sample_id: i.predicted for i in batch.items},
            "classes": list(batch.classes),
            **_detection_record(batch),
            **names,
            "shown": True,
        }
        save_ref(ref)
        return ref

    def progress(self, ref: Reference) -> Progress:
        """All of the batch once the review is declared finished, none before."""
        total = len(ref["sample_ids"])
        return Progress(done=total if review_finished(ref) else 0, total=total)

    def collect(self, ref: Reference, *, partial: bool = False) -> Collected:
        finished = review_finished(ref)
        if not finished and not partial:
            raise LabelError(
                f"the review of round {ref['round']} is not finished: run 'alflow review "
                "finish' (or the App's update operator), or accept the marked samples only "
                "with --when-unfinished accept_partial"
            )
        marks = self._surface.read(ref["sample_ids"])
        if ref.get("task") == DETECTION:
            return resolve_boxes(ref, marks, finished=finished, unknown_labels=self._unknown_labels)
        return resolve_marks(ref, marks, finished=finished, unknown_labels=self._unknown_labels)

    def cancel(self, ref: Reference) -> None:
        self._surface.withdraw(ref)
