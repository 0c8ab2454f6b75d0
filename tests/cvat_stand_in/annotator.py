"""A person working in CVAT, simulated through cvat-sdk against the stand-in.

Everything the :class:`Annotator` does goes through cvat-sdk's high-level API over HTTP, the same
requests the CVAT UI makes when someone corrects a tag, adds a label to a project, marks a job
completed or deletes a task. Tests read the stand-in's memory directly only to *assert*.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from cvat_sdk import Client, make_client, models
from cvat_sdk.core.proxies.annotations import AnnotationUpdateAction


class Annotator:
    """Corrects tags and boxes, completes jobs, adds labels and deletes tasks through cvat-sdk."""

    def __init__(self, url: str, username: str, password: str) -> None:
        self.url = url
        self._credentials = (username, password)

    @contextmanager
    def client(self) -> Iterator[Client]:
        with make_client(self.url, credentials=self._credentials) as client:
            yield client

    # ------------------------------------------------------------------ reading
    def tags(self, task_id: int) -> dict[int, list[str]]:
        """Label names of the tags on every frame of the task (frames without tags omitted)."""
        with self.client() as client:
            task = client.tasks.retrieve(task_id)
            names = {label.id: label.name for label in task.get_labels()}
            out: dict[int, list[str]] = {}
            for tag in task.get_annotations().tags:
                out.setdefault(tag.frame, []).append(names[tag.label_id])
            return {frame: sorted(labels) for frame, labels in sorted(out.items())}

    # ------------------------------------------------------------------ annotating
    def retag(self, task_id: int, changes: dict[int, str]) -> None:
        """Change the (single) tag of each frame in ``changes`` to the given label."""
        with self.client() as client:
            task = client.tasks.retrieve(task_id)
            ids = {label.name: label.id for label in task.get_labels()}
            for job in task.get_jobs():
                mine = {
                    f: lb for f, lb in changes.items() if job.start_frame <= f <= job.stop_frame
                }
                if not mine:
                    continue
                tags = [t for t in job.get_annotations().tags if t.frame in mine]
                job.update_annotations(
                    models.PatchedLabeledDataRequest(
                        tags=[
                            models.LabeledImageRequest(
                                id=t.id, frame=t.frame, label_id=ids[mine[t.frame]], source="manual"
                            )
                            for t in tags
                        ]
                    ),
                    action=AnnotationUpdateAction.UPDATE,
                )

    def add_tag(self, task_id: int, frame: int, label: str) -> None:
        """Put one more tag on ``frame`` (the frame then carries several)."""
        with self.client() as client:
            task = client.tasks.retrieve(task_id)
            ids = {lb.name: lb.id for lb in task.get_labels()}
            job = self._job_of(task, frame)
            job.update_annotations(
                models.PatchedLabeledDataRequest(
                    tags=[models.LabeledImageRequest(frame=frame, label_id=ids[label])]
                ),
                action=AnnotationUpdateAction.CREATE,
            )

    def untag(self, task_id: int, frame: int) -> None:
        """Remove every tag from ``frame``."""
        with self.client() as client:
            job = self._job_of(client.tasks.retrieve(task_id), frame)
            ids = [t.id for t in job.get_annotations().tags if t.frame == frame]
            job.remove_annotations(ids=ids)

    def complete(self, task_id: int, jobs: Iterable[int] | None = None) -> list[int]:
        """Mark jobs completed (all of the task's, or those at the given positions by start
        frame); returns the ids of the jobs completed."""
        with self.client() as client:
            ordered = sorted(client.tasks.retrieve(task_id).get_jobs(), key=lambda j: j.start_frame)
            chosen = ordered if jobs is None else [ordered[i] for i in jobs]
            for job in chosen:
                job.update({"state": "completed"})
            return [job.id for job in chosen]

    # ------------------------------------------------------------------ boxes
    def shapes(self, task_id: int) -> list[tuple[int, int, str, str, list[float], str]]:
        """``(id, frame, label, type, points, source)`` of every shape of the task, by frame."""
        with self.client() as client:
            task = client.tasks.retrieve(task_id)
            names = {label.id: label.name for label in task.get_labels()}
            found = [
                (s.id, s.frame, names[s.label_id], s.type.value, list(s.points), s.source)
                for s in task.get_annotations().shapes
            ]
            return sorted(found, key=lambda s: (s[1], s[0]))

    def edit_shape(
        self,
        task_id: int,
        shape_id: int,
        *,
        points: list[float] | None = None,
        label: str | None = None,
    ) -> None:
        """Move or resize a shape (new pixel ``points``) and/or change its label."""
        with self.client() as client:
            task = client.tasks.retrieve(task_id)
            ids = {lb.name: lb.id for lb in task.get_labels()}
            old = next(s for s in task.get_annotations().shapes if s.id == shape_id)
            job = self._job_of(task, old.frame)
            job.update_annotations(
                models.PatchedLabeledDataRequest(
                    shapes=[
                        models.LabeledShapeRequest(
                            id=old.id,
                            type=old.type,
                            frame=old.frame,
                            label_id=old.label_id if label is None else ids[label],
                            points=list(old.points) if points is None else points,
                            source="manual",
                        )
                    ]
                ),
                action=AnnotationUpdateAction.UPDATE,
            )

    def draw(
        self, task_id: int, frame: int, label: str, points: list[float], kind: str = "rectangle"
    ) -> None:
        """Draw a new shape (a rectangle's pixel corners, or a polygon's vertices)."""
        with self.client() as client:
            task = client.tasks.retrieve(task_id)
            ids = {lb.name: lb.id for lb in task.get_labels()}
            self._job_of(task, frame).update_annotations(
                models.PatchedLabeledDataRequest(
                    shapes=[
                        models.LabeledShapeRequest(
                            type=kind, frame=frame, label_id=ids[label], points=points
                        )
                    ]
                ),
                action=AnnotationUpdateAction.CREATE,
            )

    def track(self, task_id: int, frame: int, label: str, points: list[float]) -> None:
        """Draw a rectangle as a track starting at ``frame``."""
        with self.client() as client:
            task = client.tasks.retrieve(task_id)
            ids = {lb.name: lb.id for lb in task.get_labels()}
            shape = models.TrackedShapeRequest(type="rectangle", frame=frame, points=points)
            self._job_of(task, frame).update_annotations(
                models.PatchedLabeledDataRequest(
                    tracks=[
                        models.LabeledTrackRequest(frame=frame, label_id=ids[label], shapes=[shape])
                    ]
                ),
                action=AnnotationUpdateAction.CREATE,
            )

    def erase(self, task_id: int, shape_id: int) -> None:
        """Delete one shape."""
        with self.client() as client:
            task = client.tasks.retrieve(task_id)
            old = next(s for s in task.get_annotations().shapes if s.id == shape_id)
            self._job_of(task, old.frame).remove_annotations(ids=[shape_id])

    # ------------------------------------------------------------------ managing
    def add_label(self, project_id: int, name: str) -> None:
        """Add a label to a project, as a project owner does in the CVAT UI."""
        with self.client() as client:
            client.projects.retrieve(project_id).update({"labels": [{"name": name}]})

    def delete_task(self, task_id: int) -> None:
        with self.client() as client:
            client.tasks.retrieve(task_id).remove()

    @staticmethod
    def _job_of(task: Any, frame: int) -> Any:
        return next(j for j in task.get_jobs() if j.start_frame <= frame <= j.stop_frame)
