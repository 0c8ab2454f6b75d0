"""The annotation-backend contract the round flows are written against.

A backend takes a queried batch to wherever labels come from (a simulated oracle, CVAT, the
FiftyOne App) and brings answers back. Annotation may take days, so no call waits for people:

* :meth:`AnnotationBackend.export` sends the batch and returns a JSON-able *reference*; anything
  the backend learns on the way (a CVAT task id, job ids, the frame -> sample map) is passed to
  ``save_ref`` *as soon as it is known*, so the ledger holds it even if the process dies next.
  Exporting with the ``ref`` of an earlier (maybe interrupted) export must reuse what that
  export created (idempotent); ``force_new=True`` replaces it, e.g. after a person deleted the
  annotation task.
* :meth:`AnnotationBackend.progress` reports how much is done, without side effects.
* :meth:`AnnotationBackend.collect` returns the answers for finished work (all of it, or with
  ``partial=True`` whatever is finished so far), plus the samples it could not resolve, which
  return to the pool. It never guesses a label.
* :meth:`AnnotationBackend.cancel` withdraws outstanding work.

Backends never write to FiftyOne or the ledger themselves: the ingest task does, so provenance
and idempotency are handled once for every backend.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

Reference = dict[str, Any]
Box = tuple[float, float, float, float]  # FiftyOne's relative [x, y, w, h]

CLASSIFICATION = "classification"
DETECTION = "detection"


@dataclass(frozen=True)
class BoxGuess:
    """A predicted box to pre-fill for the annotator (a detection batch)."""

    box: Box
    label: str
    confidence: float


@dataclass(frozen=True)
class BatchItem:
    """One queried sample as the annotator should see it.

    A classification item carries the predicted class; a detection item carries the predicted
    boxes (``boxes``, empty for an image the learner sees nothing in, None before the first
    learner) and the image's pixel ``size`` ``(width, height)`` from FiftyOne's metadata, which
    pixel-based tools (CVAT) need to place relative boxes.
    """

    sample_id: str
    filepath: str
    predicted: str | None = None
    confidence: float | None = None
    boxes: tuple[BoxGuess, ...] | None = None
    size: tuple[int, int] | None = None


@dataclass(frozen=True)
class Batch:
    """A round's queried samples, with the class list the annotator chooses from."""

    loop: str
    round_number: int
    items: tuple[BatchItem, ...]
    classes: tuple[str, ...]
    task: str = CLASSIFICATION
    # a detection batch: the overlap at which a corrected box is its pre-fill's correction
    match_iou: float = 0.5

    @property
    def sample_ids(self) -> list[str]:
        return [item.sample_id for item in self.items]


@dataclass(frozen=True)
class Progress:
    """How much of an exported batch is finished."""

    done: int
    total: int

    @property
    def finished(self) -> bool:
        return self.total > 0 and self.done >= self.total


@dataclass(frozen=True)
class AnsweredBox:
    """One box of a detection answer, with what the annotator did to it (``change``: kept,
    moved, relabelled or added, matched to the pre-fill by IoU) and backend provenance."""

    box: Box
    label: str
    provenance: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    """A label for one sample, with backend-specific provenance (job id, changed, ...).

    A classification answer is its ``label``; a detection answer is its ``boxes`` (empty: the
    image holds no object) with ``label`` None, and ``deleted`` lists the pre-filled boxes the
    annotator removed (each ``{"box": [...], "predicted": class, ...}``) for the record.
    """

    sample_id: str
    label: str | None
    provenance: dict[str, Any] = field(default_factory=dict)
    boxes: tuple[AnsweredBox, ...] | None = None
    deleted: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Unresolved:
    """A sample the backend could not answer for (no tag, several tags, ...): back to the pool."""

    sample_id: str
    reason: str


@dataclass(frozen=True)
class Collected:
    """What :meth:`AnnotationBackend.collect` brings back."""

    answers: tuple[Answer, ...]
    unresolved: tuple[Unresolved, ...] = ()
    pending: tuple[str, ...] = ()  # sample ids still being annotated (partial collect only)


@runtime_checkable
class AnnotationBackend(Protocol):
    """What every annotation backend implements; see the module docstring for the rules."""

    kind: str

    def export(
        self,
        batch: Batch,
        save_ref: Callable[[Reference], None],
        *,
        ref: Reference | None = None,
        force_new: bool = False,
    ) -> Reference: ...

    def progress(self, ref: Reference) -> Progress: ...

    def collect(self, ref: Reference, *, partial: bool = False) -> Collected: ...

    def cancel(self, ref: Reference) -> None: ...
