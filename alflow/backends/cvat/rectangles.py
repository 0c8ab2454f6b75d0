"""The pure logic between a detection batch and CVAT's rectangles: pre-filled shapes out,
annotators' shapes back as boxes with provenance.

FiftyOne boxes are relative ``[x, y, w, h]``; CVAT rectangles are pixel corners
``[xtl, ytl, xbr, ybr]`` (cvat-sdk's ``LabeledShapeRequest``, type ``rectangle``), so every
conversion takes the image's size. What an annotator did to each box is named by matching the
frame's rectangles to its pre-filled ones (:func:`alflow.backends.box_answers.box_answer`). A frame
with a shape other than a rectangle, or a track, goes back to the pool with one line saying
so: nothing of it is half-taken.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from alflow.backends.base import (
    DETECTION,
    Answer,
    BatchItem,
    Collected,
    Reference,
    Unresolved,
)
from alflow.backends.box_answers import MATCH_IOU, box_answer
from alflow.backends.cvat.mapping import JobSpan, group_by_frame, split_frames
from alflow.boxes.geometry import from_pixels, to_pixels
from alflow.errors import BackendError

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


def detection_reference(items: Sequence[BatchItem], match_iou: float = MATCH_IOU) -> Reference:
    """What a detection round's reference adds, by frame: image sizes and pre-filled boxes
    (``[[x, y, w, h], class]`` pairs; None before the first learner)."""
    return {
        "task": DETECTION,
        "match_iou": match_iou,
        "sizes": [list(item.size or ()) for item in items],
        "prefill": [
            None if item.boxes is None else [[list(b.box), b.label] for b in item.boxes]
            for item in items
        ],
    }


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
    tagged: bool = False,
) -> Answer | Unresolved:
    """A finished frame's rectangles as an answer of boxes with provenance, or why it goes
    back to the pool.

    An empty frame is an answer (no objects); a frame with a track, an image-level tag (a
    class for the whole image, which says nothing of its boxes), a shape of another type or a
    label CVAT does not name is unresolved. Each box's provenance holds ``change``
    (kept, moved, relabelled, added) and ``predicted`` (the pre-filled class, None for an
    added box); ``deleted`` lists the pre-filled boxes the annotator removed.
    """
    where = f"CVAT task {task_id} job {job_id} frame {frame} (sample {sample_id})"
    if tracked:
        return Unresolved(sample_id, f"{where} has a track; delete it and draw the boxes as shapes")
    if tagged:
        return Unresolved(
            sample_id,
            f"{where} has an image-level tag; detection loops take rectangles: delete the tag "
            "and draw or correct the boxes",
        )
    other = sorted({s.type for s in shapes if s.type != "rectangle"})
    if other:
        return Unresolved(
            sample_id,
            f"{where} has {', '.join(other)} shapes; detection loops take rectangles: redraw "
            "them as rectangles",
        )
    unnamed = [s.label_id for s in shapes if s.label is None]
    if unnamed:
        return Unresolved(
            sample_id, f"{where} has a box of label id {unnamed[0]}, unknown to the task"
        )
    width, height = size
    corrected = [(from_pixels(s.points, width, height), str(s.label)) for s in shapes]
    return box_answer(
        sample_id,
        prefilled,
        corrected,
        {"source": "cvat", "cvat_task_id": task_id, "cvat_job_id": job_id, "cvat_frame": frame},
        match_iou=match_iou,
        per_box=[{"cvat_source": s.source} for s in shapes],
    )


def resolve_shapes(
    ref: Reference,
    jobs: Sequence[JobSpan],
    shapes: Sequence[Shape],
    tracked: Iterable[int] = (),
    tagged: Iterable[int] = (),
    *,
    unknown_labels: str = "error",
) -> Collected:
    """Turn the shapes of a detection round's task into answers, unresolved and pending samples.

    Frames of unfinished jobs are pending; each finished frame goes through
    :func:`frame_answer` against its pre-filled boxes (``ref["prefill"]``) and image size
    (``ref["sizes"]``). ``tracked`` are the frames a track touches, ``tagged`` those with an
    image-level tag.

    Raises:
        BackendError: a box names a label outside the batch's classes and ``unknown_labels`` is
            ``"error"``, or a shape sits on a frame the reference does not know.
    """
    frames: list[str] = ref["frames"]
    prefill = ref.get("prefill") or [[] for _ in frames]
    classes = set(ref.get("classes") or ())
    match_iou = float(ref.get("match_iou", MATCH_IOU))
    tracked, tagged = set(tracked), set(tagged)
    by_frame = group_by_frame(ref, shapes, "shape")
    answers: list[Answer] = []
    finished, unresolved, pending = split_frames(frames, jobs)
    for job, frame in finished:
        outcome = frame_answer(
            ref["task_id"],
            job.id,
            frame,
            frames[frame],
            by_frame.get(frame, []),
            tuple(ref["sizes"][frame]),
            [(box, label) for box, label in (prefill[frame] or [])],
            match_iou,
            tracked=frame in tracked,
            tagged=frame in tagged,
        )
        if isinstance(outcome, Answer):
            _check_unknown(outcome, job.id, frame, classes, unknown_labels)
            answers.append(outcome)
        else:
            unresolved.append(outcome)
    return Collected(tuple(answers), tuple(unresolved), tuple(pending))


def _check_unknown(answer: Answer, job_id: int, frame: int, classes: set[str], policy: str) -> None:
    unknown = sorted({b.label for b in answer.boxes or () if b.label not in classes})
    if not unknown or policy == "new_class":
        return
    raise BackendError(
        f"CVAT job {job_id} frame {frame} (sample {answer.sample_id}) has boxes of label "
        f"{', '.join(map(repr, unknown))}, not one of the loop's classes "
        f"({', '.join(sorted(classes))}): change those boxes' label in CVAT, or set "
        "backend.unknown_labels='new_class' to accept new classes"
    )
