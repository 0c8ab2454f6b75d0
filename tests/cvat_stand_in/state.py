"""The stand-in's in-memory CVAT: users, projects, labels, tasks, frames, jobs, annotations.

Pure data and rules, no HTTP: :mod:`.server` turns requests into calls on :class:`CvatState` and
the returned records into JSON shaped like a real CVAT 2.73 server's (see
``/work/shared/reference/cvat-rest-calls.md``). The rules copied from real CVAT are the ones the
alflow backend depends on:

* frames are sorted by file name (``lexicographical``) unless the data request says
  ``sorting_method: predefined`` (then ``upload_file_order``, else upload order) and carry only the
  base name; a later upload of the same base name replaces the earlier one, as files land in one
  upload directory;
* jobs cut the frames into ``segment_size`` pieces with ``start_frame``/``stop_frame``;
* the server assigns every id (projects, labels, tasks, jobs, annotations);
* a deleted task or project is gone: every later lookup is a :class:`NotFound`.
"""

from __future__ import annotations

import io
import itertools
import random
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

JOB_STATES = ("new", "in progress", "completed", "rejected")
JOB_STAGES = ("annotation", "validation", "acceptance")
ANNOTATION_KINDS = ("tags", "shapes", "tracks")
SORTING_METHODS = ("lexicographical", "natural", "predefined", "random")
LABEL_COLORS = ("#6080c0", "#406040", "#c06060", "#b0b030", "#30b0b0", "#a040a0", "#808080")


class StandInError(Exception):
    """A request the stand-in refuses; ``status`` and ``body`` become the HTTP reply."""

    status = 400

    def __init__(self, body: Any) -> None:
        super().__init__(body)
        self.body = body


class NotFound(StandInError):
    status = 404

    def __init__(self, kind: str) -> None:
        super().__init__({"detail": f"No {kind} matches the given query."})


class ServerFault(StandInError):
    """A 500 from CVAT (e.g. a database constraint an upload ran into)."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__({"detail": message})


class Invalid(StandInError):
    status = 400

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__({field_name: [message]})


SHAPE_TYPES = (
    "rectangle", "polygon", "polyline", "points", "ellipse", "cuboid", "mask", "skeleton"
)  # fmt: skip


def _shape_fields(shape: dict[str, Any], kind: str) -> dict[str, Any]:
    """A shape as CVAT's LabeledShapeSerializer stores it: its type checked, points as floats,
    every optional field at CVAT's default."""
    if shape.get("type") not in SHAPE_TYPES:
        raise Invalid(kind, f'"{shape.get("type")}" is not a valid choice.')
    points = shape.get("points") or []
    if not all(isinstance(p, int | float) for p in points):
        raise Invalid(kind, "points must be a list of numbers")
    shape["points"] = [float(p) for p in points]
    defaults = {"occluded": False, "z_order": 0, "rotation": 0.0, "outside": False}
    for name, value in defaults.items():
        shape[name] = shape.get(name, value)
    shape.setdefault("attributes", [])
    if kind == "shapes":
        shape.setdefault("score", 1.0)
        shape.setdefault("elements", [])
    return shape


def create_request_id(task_id: int) -> str:
    """CVAT's id of the background request that processes a task's uploaded data."""
    return f"action=create&target=task&target_id={task_id}"


def now() -> str:
    """A timestamp formatted as CVAT formats them."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class User:
    id: int
    username: str
    password: str
    first_name: str = ""
    last_name: str = ""
    is_superuser: bool = False
    date_joined: str = field(default_factory=now)


@dataclass
class Label:
    id: int
    name: str
    color: str
    project_id: int | None = None
    task_id: int | None = None


@dataclass
class Project:
    id: int
    name: str
    owner_id: int
    created_date: str = field(default_factory=now)
    updated_date: str = field(default_factory=now)


@dataclass
class Frame:
    name: str
    width: int
    height: int


@dataclass
class Job:
    id: int
    task_id: int
    start_frame: int
    stop_frame: int
    state: str = "new"
    stage: str = "annotation"
    assignee_id: int | None = None
    type: str = "annotation"  # or "ground_truth": a reviewer's copy spanning every frame
    created_date: str = field(default_factory=now)
    updated_date: str = field(default_factory=now)

    @property
    def frame_count(self) -> int:
        return self.stop_frame - self.start_frame + 1

    def holds(self, frame: int) -> bool:
        return self.start_frame <= frame <= self.stop_frame


@dataclass
class Task:
    id: int
    name: str
    owner_id: int
    project_id: int | None
    segment_size: int
    assignee_id: int | None = None
    subset: str = ""
    frames: list[Frame] | None = None  # None until the data is processed
    image_quality: int = 70
    data_id: int | None = None
    uploaded: list[tuple[str, bytes]] = field(default_factory=list)
    upload_open: bool = False
    recorded: set[str] = field(default_factory=set)  # names sent by earlier, unfinished uploads
    annotations: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {kind: [] for kind in ANNOTATION_KINDS}
    )
    version: int = 0
    created_date: str = field(default_factory=now)
    updated_date: str = field(default_factory=now)

    @property
    def size(self) -> int:
        return len(self.frames or ())


@dataclass
class Request:
    """A background request (task data processing) as ``/api/requests/<id>`` reports it."""

    id: str
    type: str
    target: str
    owner_id: int
    task_id: int | None = None
    project_id: int | None = None
    status: str = "finished"
    message: str = ""
    polls_left: int = 0  # how many polls still answer 'started' before the data are processed
    fields: dict[str, Any] = field(default_factory=dict)  # the Upload-Finish fields, kept till then
    created_date: str = field(default_factory=now)
    finished_date: str = field(default_factory=now)


def _natural_key(name: str) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def order_frames(
    uploaded: list[str], sorting_method: str, upload_file_order: list[str] | None, seed: int = 0
) -> list[str]:
    """The frame order CVAT gives uploaded files (base names, duplicates already removed)."""
    if sorting_method not in SORTING_METHODS:
        raise Invalid("sorting_method", f'"{sorting_method}" is not a valid choice.')
    if sorting_method == "lexicographical":
        return sorted(uploaded)
    if sorting_method == "natural":
        return sorted(uploaded, key=_natural_key)
    if sorting_method == "random":
        shuffled = list(uploaded)
        random.Random(seed).shuffle(shuffled)
        return shuffled
    if not upload_file_order:
        return list(uploaded)
    order = [name.rsplit("/", 1)[-1] for name in upload_file_order]
    if sorted(order) != sorted(uploaded):
        raise Invalid("upload_file_order", "does not match the uploaded files")
    return order


def segments(size: int, segment_size: int) -> list[tuple[int, int]]:
    """(start_frame, stop_frame) of each job; a segment size of 0 puts every frame in one job."""
    step = segment_size if segment_size > 0 else max(size, 1)
    return [(start, min(start + step, size) - 1) for start in range(0, size, step)]


def image_size(data: bytes, name: str) -> tuple[int, int]:
    """Width and height of an uploaded image; CVAT refuses files it cannot decode."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except UnidentifiedImageError:
        raise Invalid("client_files", f"{name} is not an image CVAT can read") from None


class CvatState:
    """Everything the stand-in server knows; every method is called under the server's lock."""

    def __init__(self, username: str, password: str) -> None:
        self._ids = {
            kind: itertools.count(1)
            for kind in ("user", "project", "label", "task", "job", "annotation", "data")
        }
        self.users: dict[int, User] = {}
        self.projects: dict[int, Project] = {}
        self.labels: dict[int, Label] = {}
        self.tasks: dict[int, Task] = {}
        self.jobs: dict[int, Job] = {}
        self.requests: dict[str, Request] = {}
        self.processing_errors: list[str] = []  # one per future data request: it fails with it
        self.request_polls = 0  # polls answering 'started' before a request reports its result
        self.admin = self.add_user(username, password, is_superuser=True)

    def next_id(self, kind: str) -> int:
        return next(self._ids[kind])

    # ------------------------------------------------------------------------------- users
    def add_user(self, username: str, password: str = "", *, is_superuser: bool = False) -> User:
        user = User(self.next_id("user"), username, password, is_superuser=is_superuser)
        self.users[user.id] = user
        return user

    def authenticate(self, username: str, password: str) -> User | None:
        for user in self.users.values():
            if user.username == username and user.password and user.password == password:
                return user
        return None

    def user(self, user_id: int | None) -> User | None:
        if user_id is None:
            return None
        if user_id not in self.users:
            raise NotFound("User")
        return self.users[user_id]

    # ------------------------------------------------------------------------------ labels
    def _new_label(self, spec: dict[str, Any], siblings: list[Label], **owner: int) -> Label:
        name = spec.get("name")
        if not name:
            raise Invalid("labels", "every label needs a name")
        if any(label.name == name for label in siblings):
            raise Invalid("labels", f"label names must be unique: {name!r} exists")
        color = spec.get("color") or LABEL_COLORS[len(siblings) % len(LABEL_COLORS)]
        label = Label(self.next_id("label"), name, color, **owner)
        self.labels[label.id] = label
        return label

    def project_labels(self, project_id: int) -> list[Label]:
        return [label for label in self.labels.values() if label.project_id == project_id]

    def task_labels(self, task_id: int) -> list[Label]:
        task = self.task(task_id)
        if task.project_id is not None:
            return self.project_labels(task.project_id)
        return [label for label in self.labels.values() if label.task_id == task_id]

    def apply_label_specs(self, specs: list[dict[str, Any]], **owner: int) -> None:
        """Create, rename or delete labels as CVAT's PATCH does (no id: new; ``deleted``: gone)."""
        for spec in specs:
            current = (
                self.project_labels(owner["project_id"])
                if "project_id" in owner
                else [lb for lb in self.labels.values() if lb.task_id == owner.get("task_id")]
            )
            if "id" not in spec:
                self._new_label(spec, current, **owner)
                continue
            label = next((lb for lb in current if lb.id == spec["id"]), None)
            if label is None:
                raise Invalid("labels", f"label {spec['id']} does not belong here")
            if spec.get("deleted"):
                del self.labels[label.id]
                continue
            label.name = spec.get("name", label.name)
            label.color = spec.get("color", label.color)

    # ---------------------------------------------------------------------------- projects
    def create_project(self, spec: dict[str, Any], owner: User) -> Project:
        if not spec.get("name"):
            raise Invalid("name", "This field is required.")
        project = Project(self.next_id("project"), spec["name"], owner.id)
        self.projects[project.id] = project
        self.apply_label_specs(spec.get("labels") or [], project_id=project.id)
        return project

    def project(self, project_id: int) -> Project:
        if project_id not in self.projects:
            raise NotFound("Project")
        return self.projects[project_id]

    def update_project(self, project_id: int, spec: dict[str, Any]) -> Project:
        project = self.project(project_id)
        if "name" in spec:
            project.name = spec["name"]
        self.apply_label_specs(spec.get("labels") or [], project_id=project_id)
        project.updated_date = now()
        return project

    def delete_project(self, project_id: int) -> None:
        self.project(project_id)
        for task in [t for t in self.tasks.values() if t.project_id == project_id]:
            self.delete_task(task.id)
        for label in self.project_labels(project_id):
            del self.labels[label.id]
        del self.projects[project_id]

    # ------------------------------------------------------------------------------- tasks
    def create_task(self, spec: dict[str, Any], owner: User) -> Task:
        if not spec.get("name"):
            raise Invalid("name", "This field is required.")
        project_id = spec.get("project_id")
        if project_id is not None and project_id not in self.projects:
            raise Invalid("project_id", f'Invalid pk "{project_id}" - object does not exist.')
        if project_id is not None and spec.get("labels"):
            raise Invalid("labels", "Tasks inside a project use the project's labels")
        if project_id is None and not spec.get("labels"):
            raise Invalid("label_set", "Label set or project_id must be present")
        self.user(spec.get("assignee_id"))
        task = Task(
            id=self.next_id("task"),
            name=spec["name"],
            owner_id=owner.id,
            project_id=project_id,
            segment_size=int(spec.get("segment_size") or 0),
            assignee_id=spec.get("assignee_id"),
            subset=spec.get("subset") or "",
        )
        self.tasks[task.id] = task
        if project_id is None:
            self.apply_label_specs(spec["labels"], task_id=task.id)
        return task

    def task(self, task_id: int) -> Task:
        if task_id not in self.tasks:
            raise NotFound("Task")
        return self.tasks[task_id]

    def delete_task(self, task_id: int) -> None:
        self.task(task_id)
        for job in self.task_jobs(task_id):
            del self.jobs[job.id]
        for label in [lb for lb in self.labels.values() if lb.task_id == task_id]:
            del self.labels[label.id]
        del self.tasks[task_id]

    # -------------------------------------------------------------------------------- data
    def start_upload(self, task_id: int) -> None:
        """Open the upload. Like CVAT, files of an earlier, unfinished upload stay in the task's
        upload directory (CVAT's Upload-Start does nothing to them)."""
        task = self.task(task_id)
        if task.frames is not None or self.processing(task_id):
            raise Invalid("detail", "Adding more data is not supported")
        task.upload_open = True
        task.recorded = {name for name, _ in task.uploaded}

    def receive_files(self, task_id: int, files: list[tuple[str, bytes]]) -> None:
        task = self.task(task_id)
        if not task.upload_open:
            raise Invalid("detail", "Upload-Start was not sent before the files")
        for path, data in files:
            base = path.replace("\\", "/").rsplit("/", 1)[-1]
            if base in task.recorded:
                # CVAT records each client file once per task data (unique together): a name
                # an earlier upload into the task already sent fails with a database error
                raise ServerFault(
                    f'duplicate key value violates unique constraint "engine_clientfile_data_id_'
                    f'file_key" (file {base!r})'
                )
            # within one upload: a later file of the same base name replaces the earlier one
            task.uploaded = [(name, blob) for name, blob in task.uploaded if name != base]
            task.uploaded.append((base, data))

    def finish_upload(self, task_id: int, fields: dict[str, Any], owner: User) -> Request:
        """Queue the processing of the uploaded files into frames and jobs, as CVAT does.

        With ``request_polls`` 0 the data are processed at once; otherwise the task stays
        without data while the request is polled that many times (see :meth:`poll_request`).
        """
        task = self.task(task_id)
        if not task.upload_open:
            raise Invalid("detail", "Upload-Start was not sent before Upload-Finish")
        task.upload_open = False
        request = Request(
            id=create_request_id(task_id),
            type="create:task",
            target="task",
            owner_id=owner.id,
            task_id=task_id,
            project_id=task.project_id,
            status="queued",
            polls_left=self.request_polls,
            fields=dict(fields),
        )
        self.requests[request.id] = request
        if request.polls_left == 0:
            self._run(request)
        return request

    def processing(self, task_id: int) -> bool:
        request = self.requests.get(create_request_id(task_id))
        return request is not None and request.status in ("queued", "started")

    def _run(self, request: Request) -> None:
        task = self.task(request.task_id)
        if self.processing_errors:
            request.status, request.message = "failed", self.processing_errors.pop(0)
            return
        try:
            self._process_data(task, request.fields)
        except StandInError as exc:
            request.status, request.message = "failed", str(exc.body)
            return
        request.status, request.finished_date = "finished", now()

    def _process_data(self, task: Task, fields: dict[str, Any]) -> None:
        if not task.uploaded:
            raise Invalid("detail", "No media data found")
        blobs = dict(task.uploaded)
        names = order_frames(
            [name for name, _ in task.uploaded],
            fields.get("sorting_method") or "lexicographical",
            fields.get("upload_file_order"),
            seed=task.id,
        )
        frames = []
        for name in names:
            width, height = image_size(blobs[name], name)
            frames.append(Frame(name, width, height))
        task.frames = frames
        task.uploaded = []
        task.image_quality = int(fields.get("image_quality") or 70)
        task.data_id = self.next_id("data")
        for start, stop in segments(len(frames), task.segment_size):
            job = Job(self.next_id("job"), task.id, start, stop, assignee_id=task.assignee_id)
            self.jobs[job.id] = job
        task.updated_date = now()

    def poll_request(self, request_id: str) -> Request:
        """The request; a queued one moves on with each poll and is processed at the last."""
        if request_id not in self.requests:
            raise NotFound("Request")
        request = self.requests[request_id]
        if request.status in ("queued", "started"):
            if request.polls_left > 0:
                request.polls_left -= 1
                request.status = "started"
            else:
                self._run(request)
        return request

    # -------------------------------------------------------------------------------- jobs
    def task_jobs(self, task_id: int) -> list[Job]:
        return [job for job in self.jobs.values() if job.task_id == task_id]

    def job(self, job_id: int) -> Job:
        if job_id not in self.jobs:
            raise NotFound("Job")
        return self.jobs[job_id]

    def update_job(self, job_id: int, spec: dict[str, Any]) -> Job:
        job = self.job(job_id)
        if "state" in spec and spec["state"] not in JOB_STATES:
            raise Invalid("state", f'"{spec["state"]}" is not a valid choice.')
        if "stage" in spec and spec["stage"] not in JOB_STAGES:
            raise Invalid("stage", f'"{spec["stage"]}" is not a valid choice.')
        if "assignee" in spec:
            self.user(spec["assignee"])
            job.assignee_id = spec["assignee"]
        # CVAT's JobWriteSerializer: a stage change without a state resets the state to 'new'
        stage = spec.get("stage", job.stage)
        job.state = spec.get("state", "new" if stage != job.stage else job.state)
        job.stage = stage
        job.updated_date = now()
        return job

    def add_ground_truth_job(self, task_id: int) -> Job:
        """A ground-truth job over every frame, as a manager adds one in CVAT's UI."""
        task = self.task(task_id)
        if not task.frames:
            raise Invalid("detail", "the task has no data yet")
        job = Job(self.next_id("job"), task_id, 0, len(task.frames) - 1, type="ground_truth")
        self.jobs[job.id] = job
        return job

    # ------------------------------------------------------------------------- annotations
    def annotations(self, task_id: int, job: Job | None = None) -> dict[str, Any]:
        """The annotations of a task, or of the frames of one of its jobs."""
        task = self.task(task_id)
        data: dict[str, Any] = {"version": task.version}
        for kind in ANNOTATION_KINDS:
            data[kind] = [
                dict(item)
                for item in task.annotations[kind]
                if job is None or job.holds(item["frame"])
            ]
        data["intervals"] = []
        return data

    def _validated(self, task: Task, job: Job | None, kind: str, item: dict[str, Any]) -> dict:
        label_ids = {label.id for label in self.task_labels(task.id)}
        if item.get("label_id") not in label_ids:
            raise Invalid(kind, f"label_id {item.get('label_id')} is not a label of this task")
        frame = item.get("frame")
        if not isinstance(frame, int) or not 0 <= frame < task.size:
            raise Invalid(kind, f"frame {frame} is outside the task (size {task.size})")
        if job is not None and not job.holds(frame):
            raise Invalid(kind, f"frame {frame} is outside job {job.id}")
        clean = dict(item)
        clean["group"] = clean.get("group") or 0
        clean.setdefault("source", "manual")
        clean.setdefault("attributes", [])
        if kind == "shapes":
            return _shape_fields(clean, kind)
        if kind == "tracks":
            clean["shapes"] = [_shape_fields(dict(s), kind) for s in clean.get("shapes") or []]
            clean.setdefault("elements", [])
        return clean

    def put_annotations(self, task_id: int, data: dict[str, Any], job: Job | None = None) -> dict:
        """Replace the annotations (of the job's frames only, for a job) with ``data``."""
        task = self.task(task_id)
        incoming = {
            kind: [self._validated(task, job, kind, item) for item in data.get(kind) or []]
            for kind in ANNOTATION_KINDS
        }
        for kind in ANNOTATION_KINDS:
            kept = [
                it
                for it in task.annotations[kind]
                if job is not None and not job.holds(it["frame"])
            ]
            for item in incoming[kind]:
                item["id"] = self.next_id("annotation")
            task.annotations[kind] = kept + incoming[kind]
        task.version += 1
        return {"version": task.version, **incoming, "intervals": []}

    def patch_annotations(
        self, task_id: int, action: str, data: dict[str, Any], job: Job | None = None
    ) -> dict[str, Any]:
        """CVAT's ``PATCH ...?action=create|update|delete`` on annotations."""
        if action not in ("create", "update", "delete"):
            raise Invalid("action", "must be one of create, update, delete")
        task = self.task(task_id)
        changed: dict[str, Any] = {}
        for kind in ANNOTATION_KINDS:
            items = data.get(kind) or []
            if action != "delete":
                items = [self._validated(task, job, kind, item) for item in items]
            changed[kind] = [self._patch_one(task, kind, action, item) for item in items]
        task.version += 1
        return {"version": task.version, **changed, "intervals": []}

    def _patch_one(self, task: Task, kind: str, action: str, item: dict[str, Any]) -> dict:
        existing = task.annotations[kind]
        if action == "create":
            item["id"] = self.next_id("annotation")
            existing.append(item)
            return item
        index = next((i for i, it in enumerate(existing) if it["id"] == item.get("id")), None)
        if index is None:
            raise Invalid(kind, f"annotation {item.get('id')} does not exist")
        if action == "delete":
            return existing.pop(index)
        existing[index] = item
        return item
