"""The pure logic between a batch and a CVAT task: staged names, frames, jobs and tags.

No CVAT call here: the backend reads frame names, jobs and tags through the session and these
functions turn them into the frame -> sample map, progress and collected answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from alflow.backends.base import Answer, Collected, Progress, Reference, Unresolved
from alflow.errors import BackendError, preview_ids

T = TypeVar("T", bound=Any)  # a Tag or a rectangles.Shape: anything with a frame


def staged_name(index: int, filepath: str) -> str:
    """Upload name of the ``index``-th batch image: unique, and sorts in batch order."""
    return f"{index:06d}_{Path(filepath).name}"


def frame_map(frame_names: Sequence[str], staged: Mapping[str, str]) -> list[str]:
    """Sample id of every frame, from the task's frame names and the staged-name -> id map.

    Raises:
        BackendError: the task's frames are not exactly the uploaded files.
    """
    unknown = [name for name in frame_names if name not in staged]
    if unknown or len(frame_names) != len(staged) or len(set(frame_names)) != len(frame_names):
        raise BackendError(
            f"the CVAT task holds frames {preview_ids(frame_names)} but {len(staged)} images "
            f"were uploaded ({preview_ids(staged)}): the task's data does not match the batch; "
            "cancel the round's task and re-export it with force_new=True"
        )
    return [staged[name] for name in frame_names]


def job_finished(state: str, stage: str, accept_stage_acceptance: bool) -> bool:
    """Whether annotators are done with a job.

    CVAT resets a job's state to ``new`` when its stage changes without a state, so a job a
    reviewer moved to ``acceptance`` reads ``new``; ``accept_stage_acceptance`` (the default)
    counts it as finished. A job in ``validation`` is being reviewed and waits.
    """
    return state == "completed" or (accept_stage_acceptance and stage == "acceptance")


@dataclass(frozen=True)
class JobSpan:
    """A CVAT job as collect sees it: its frames and whether it is finished."""

    id: int
    start_frame: int
    stop_frame: int
    finished: bool

    def frames(self) -> range:
        return range(self.start_frame, self.stop_frame + 1)


@dataclass(frozen=True)
class Tag:
    """One tag read from CVAT, its label already named (None: the label id is unknown)."""

    frame: int
    label: str | None
    label_id: int
    source: str = "manual"


def resolve_tags(
    ref: Reference,
    jobs: Sequence[JobSpan],
    tags: Sequence[Tag],
    *,
    unknown_labels: str = "error",
) -> Collected:
    """Turn the tags of a round's task into answers, unresolved samples and pending ones.

    Frames of unfinished jobs are pending whatever their tags say; a finished frame needs
    exactly one tag naming a known label to become an :class:`Answer`.

    Raises:
        BackendError: a tag names a label outside the batch's classes and ``unknown_labels``
            is ``"error"``, or a tag sits on a frame the reference does not know.
    """
    frames: list[str] = ref["frames"]
    predicted: list[str | None] = ref.get("predicted") or [None] * len(frames)
    classes = set(ref.get("classes") or ())
    by_frame = group_by_frame(ref, tags, "tag")

    answers: list[Answer] = []
    finished, unresolved, pending = split_frames(frames, jobs)
    for job, frame in finished:
        sample_id = frames[frame]
        outcome = _resolve_frame(ref, job, frame, by_frame.get(frame, []), predicted[frame])
        if isinstance(outcome, Answer) and outcome.label not in classes:
            _check_unknown(ref, frame, sample_id, outcome.label, classes, unknown_labels)
        (answers if isinstance(outcome, Answer) else unresolved).append(outcome)
    return Collected(tuple(answers), tuple(unresolved), tuple(pending))


def group_by_frame(ref: Reference, items: Sequence[T], what: str) -> dict[int, list[T]]:
    """Tags or shapes by frame index.

    Raises:
        BackendError: one sits on a frame the round's reference does not know.
    """
    count = len(ref["frames"])
    grouped: dict[int, list[T]] = {}
    for item in items:
        if not 0 <= item.frame < count:
            raise BackendError(
                f"CVAT task {ref['task_id']} has a {what} on frame {item.frame}, but the round's "
                f"reference knows {count} frames: the reference does not match the task"
            )
        grouped.setdefault(item.frame, []).append(item)
    return grouped


def split_frames(
    frames: Sequence[str], jobs: Sequence[JobSpan]
) -> tuple[list[tuple[JobSpan, int]], list[Unresolved], list[str]]:
    """The ``(job, frame)`` pairs of finished jobs in frame order, the frames in no job
    (unresolved) and the sample ids of unfinished jobs' frames (pending)."""
    covered = {frame for job in jobs for frame in job.frames()}
    unresolved = [
        Unresolved(frames[frame], f"frame {frame} is in no CVAT job")
        for frame in sorted(set(range(len(frames))) - covered)
    ]
    finished, pending = [], []
    for job in sorted(jobs, key=lambda j: j.start_frame):
        for frame in job.frames():
            if job.finished:
                finished.append((job, frame))
            else:
                pending.append(frames[frame])
    return finished, unresolved, pending


def _resolve_frame(
    ref: Reference, job: JobSpan, frame: int, tags: list[Tag], predicted: str | None
) -> Answer | Unresolved:
    sample_id = ref["frames"][frame]
    where = f"CVAT task {ref['task_id']} job {job.id} frame {frame}"
    if not tags:
        return Unresolved(sample_id, f"no tag on {where}")
    if len(tags) > 1:
        names = ", ".join(sorted(str(t.label) for t in tags))
        return Unresolved(sample_id, f"{len(tags)} tags ({names}) on {where}; expected one")
    (tag,) = tags
    if tag.label is None:
        return Unresolved(sample_id, f"the tag on {where} has label id {tag.label_id}, unknown")
    provenance = {
        "source": "cvat",
        "cvat_task_id": ref["task_id"],
        "cvat_job_id": job.id,
        "cvat_frame": frame,
        "cvat_tag_source": tag.source,
        "predicted": predicted,
        "changed": tag.label != predicted,
    }
    return Answer(sample_id, tag.label, provenance)


def _check_unknown(
    ref: Reference, frame: int, sample_id: str, label: str, classes: set[str], policy: str
) -> None:
    if policy == "new_class":
        return
    raise BackendError(
        f"CVAT task {ref['task_id']} frame {frame} (sample {sample_id}) is tagged {label!r}, "
        f"which is not one of the loop's classes ({', '.join(sorted(classes))}): change the tag "
        "in CVAT, or set backend.unknown_labels='new_class' to accept new classes"
    )


def progress_of(jobs: Sequence[JobSpan]) -> Progress:
    """Finished jobs out of all jobs."""
    return Progress(done=sum(1 for j in jobs if j.finished), total=len(jobs))
