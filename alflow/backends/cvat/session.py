"""The CVAT calls the backend makes, through cvat-sdk's high-level layer, each one retried.

Every method is a unit that is safe to repeat (a read, an idempotent write, or a write that first
looks for its own earlier effect), so :func:`.retries.call_with_retries` may run it again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from alflow.backends.base import Reference
from alflow.backends.cvat.client import enum_value, open_client, sdk_progress
from alflow.backends.cvat.credentials import Connection
from alflow.backends.cvat.errors import CvatTaskDeleted, reexport_hint, translate
from alflow.backends.cvat.mapping import Tag
from alflow.backends.cvat.rectangles import Shape, prefill_shapes
from alflow.backends.cvat.retries import RetryPolicy, call_with_retries
from alflow.backends.cvat.versions import describe as describe_version
from alflow.backends.cvat.versions import note as note_version
from alflow.config import naming
from alflow.config.backends import CvatBackendConfig
from alflow.errors import BackendError, CredentialsRefused

log = logging.getLogger(__name__)
T = TypeVar("T")
PREFILL_SOURCE = "auto"  # CVAT's source for machine-made annotations
CREATE_REQUEST = "action=create&target=task&target_id={task_id}"  # CVAT's id of data processing


@contextmanager
def open_session(
    conn: Connection, config: CvatBackendConfig, sleep: Callable[[float], None]
) -> Iterator[CvatSession]:
    """A logged-in session on ``conn``'s server; every library error leaves as a BackendError."""
    from cvat_sdk.api_client.exceptions import OpenApiException
    from cvat_sdk.core.exceptions import CvatSdkException
    from urllib3.exceptions import HTTPError

    policy = RetryPolicy.from_config(config)
    try:
        with open_client(conn, config) as client:
            session = CvatSession(client, conn.url, policy, sleep, config)
            session.reach()
            session.login(conn)
            yield session
    except BackendError:
        raise
    except (OpenApiException, CvatSdkException, HTTPError, OSError) as exc:
        raise translate(exc, conn, policy) from None


class CvatSession:
    """The CVAT calls the backend makes, each one retried as a unit that is safe to repeat."""

    def __init__(
        self,
        client: Any,
        url: str,
        policy: RetryPolicy,
        sleep: Callable,
        config: CvatBackendConfig,
    ) -> None:
        self.client = client
        self.url = url
        self.segment_size = config.segment_size
        self.poll_seconds = config.poll_seconds
        self.processing_timeout = config.processing_timeout_seconds
        self.policy = policy
        self._sleep = sleep

    def _call(self, what: str, func: Callable[[], T]) -> T:
        return call_with_retries(what, func, self.policy, self._sleep)

    # ------------------------------------------------------------------ server, login
    def reach(self) -> None:
        """Ask the server for its version (proves the URL); a mismatch with cvat-sdk is shown
        once per server, server version and cvat-sdk version (:mod:`.versions`)."""
        version = self._call("reaching the server", self.client.get_server_version)
        supported = {(v.major, v.minor) for v in self.client.SUPPORTED_SERVER_VERSIONS}
        if (version.major, version.minor) in supported:
            return
        from cvat_sdk.version import VERSION

        made_for = [f"{a}.{b}" for a, b in sorted(supported)]
        if note_version(self.url, str(version), VERSION, made_for):
            record = {"url": self.url, "server": str(version), "sdk": VERSION}
            log.warning("%s", describe_version({**record, "supported": made_for}))

    def login(self, conn: Connection) -> None:
        """Log in; refused credentials (400 from CVAT's login, 401/403) get a clear message."""
        from cvat_sdk.api_client.exceptions import ApiException
        from cvat_sdk.core.client import AccessTokenCredentials, PasswordCredentials

        try:
            if conn.token:
                self.client.login(AccessTokenCredentials(conn.token))
                # a token login sends nothing; ask who we are so a bad token fails here
                self._call("checking the access token", self.client.users.retrieve_current_user)
            else:
                credentials = PasswordCredentials(conn.username, conn.password)
                self._call("logging in", lambda: self.client.login(credentials))
        except ApiException as exc:
            if exc.status not in (400, 401, 403):
                raise
            # from None: the failed request carried the secret; keep it out of the traceback
            raise CredentialsRefused(
                f"CVAT at {self.url} refused the credentials from {conn.source} "
                f"(HTTP {exc.status}): check the user name and password, or the access token"
            ) from None

    def user_id(self, assignee: str) -> int:
        """The id of ``assignee``: a user name, or a numeric user id used as it is.

        CVAT lists other users only to administrators (and organization members); a plain
        account sees itself alone, so a name it cannot find may still exist: the message says
        so, and a numeric id needs no lookup.
        """
        if assignee.isdigit():
            return int(assignee)
        users = self._call(
            "finding the assignee", lambda: self.client.users.list(username=assignee)
        )
        matches = [u.id for u in users if u.username == assignee]
        if not matches:
            raise BackendError(
                f"CVAT at {self.url} shows no user {assignee!r} to this account: set "
                "backend.assignee to an existing user name, or leave it empty. CVAT lists other "
                "users only to administrators; with another account, give the user's numeric "
                "id instead (shown in CVAT's admin pages or /api/users)"
            )
        return matches[0]

    # ------------------------------------------------------------------ projects
    def ensure_project(self, loop: str, classes: Sequence[str]) -> Any:
        """The loop's project, created with a label per class if missing (safe to repeat)."""
        name = naming.cvat_project_name(loop)

        def find_or_create() -> Any:
            found = sorted(
                (p for p in self.client.projects.list(name=name) if p.name == name),
                key=lambda p: p.id,
            )
            if len(found) > 1:
                log.warning(
                    "CVAT has %d projects named %r; alflow uses the oldest, id %d",
                    len(found), name, found[0].id,
                )  # fmt: skip
            if found:
                return found[0]
            spec = {"name": name, "labels": [{"name": c} for c in classes]}
            return self.client.projects.create(spec)

        return self._call(f"finding or creating project {name!r}", find_or_create)

    def project_by_id(self, project_id: int, ref: Reference | None = None) -> Any:
        from cvat_sdk.api_client.exceptions import NotFoundException

        try:
            return self._call(
                "reading the project", lambda: self.client.projects.retrieve(project_id)
            )
        except NotFoundException:
            raise CvatTaskDeleted(
                f"CVAT project {project_id} was deleted, and the round's task with it; "
                f"{reexport_hint(ref or {})} (a new task, pre-filled again)"
            ) from None

    def add_labels(self, project: Any, classes: Sequence[str]) -> list[str]:
        """Give the project a label for every class it lacks; returns the names added."""

        def add() -> list[str]:
            have = {label.name for label in project.get_labels()}
            missing = [c for c in dict.fromkeys(classes) if c not in have]
            if missing:
                project.update({"labels": [{"name": c} for c in missing]})
                log.info("CVAT project %r: added labels %s", project.name, missing)
            return missing

        return self._call(f"adding labels to project {project.name!r}", add)

    # ------------------------------------------------------------------ tasks
    def create_task(self, name: str, project: Any) -> Any:
        """Create the round's task; a retry adopts a task its failed attempt created."""

        def listed() -> set[int]:
            return {t.id for t in self.client.tasks.list(name=name, project_id=project.id)}

        before = self._call("listing tasks", listed)
        if before:
            log.warning(
                "CVAT project %r already has task(s) %s named %r; creating another",
                project.name, sorted(before), name,
            )  # fmt: skip
        spec = {"name": name, "project_id": project.id, "segment_size": self.segment_size}

        def create() -> Any:
            new = listed() - before
            if new:  # an earlier attempt got through but its answer was lost
                return self.client.tasks.retrieve(max(new))
            return self.client.tasks.create(spec)

        return self._call(f"creating task {name!r}", create)

    def task(self, ref: Reference) -> Any:
        """The round's task; gone (or replaced by another task after a reset) -> deleted."""
        from cvat_sdk.api_client.exceptions import NotFoundException

        task_id, name = ref["task_id"], ref.get("task_name")
        try:
            task = self._call("reading the task", lambda: self.client.tasks.retrieve(task_id))
        except NotFoundException:
            task = None
        if task is None or (name and task.name != name):
            raise CvatTaskDeleted(
                f"CVAT task {task_id} ({name}) was deleted from {self.url}; its annotations are "
                f"lost. {reexport_hint(ref).capitalize()} (a new task, pre-filled again)"
            )
        return task

    def note_replaced_task(self, ref: Reference) -> None:
        """Say what becomes of the earlier task of a round that gets a new one."""
        try:
            self.task(ref)
        except CvatTaskDeleted:
            log.info(
                "CVAT: round %s gets a new task; task %s of its earlier export was deleted",
                ref.get("task_name"), ref["task_id"],
            )  # fmt: skip
            return
        log.warning(
            "CVAT: round %s gets a new task; task %s of its earlier export still exists and is "
            "left as it is (delete it in CVAT so annotators do not work on both)",
            ref.get("task_name"), ref["task_id"],
        )  # fmt: skip

    def has_data(self, task: Any) -> bool:
        return bool(getattr(task, "size", 0))

    def send_data(self, task: Any, paths: Sequence[Path]) -> None:
        """One upload of ``paths`` (and the request to process them); never retried here."""
        task.upload_data(
            paths,
            params={"sorting_method": "predefined"},
            pbar=sdk_progress(f"uploading {len(paths)} images to CVAT task {task.id}"),
            wait_for_completion=False,
        )

    def creation_status(self, task: Any) -> tuple[str, str]:
        """Status and message of the request processing the task's data; ``none`` if none."""
        from cvat_sdk.api_client.exceptions import NotFoundException

        rq_id = CREATE_REQUEST.format(task_id=task.id)

        def read() -> tuple[str, str]:
            try:
                request, _ = self.client.api_client.requests_api.retrieve(rq_id)
            except NotFoundException:
                return "none", ""
            return str(enum_value(request.status)), request.message or ""

        return self._call(f"reading the data request of task {task.id}", read)

    def settle(self, task: Any) -> tuple[str, str]:
        """Wait while CVAT processes the task's data, then refresh the task.

        Raises:
            BackendError: still processing after ``processing_timeout`` seconds.
        """
        deadline = time.monotonic() + self.processing_timeout
        while True:
            status, message = self.creation_status(task)
            if status not in ("queued", "started"):
                break
            if time.monotonic() > deadline:
                raise BackendError(
                    f"CVAT is still processing the images of task {task.id} after "
                    f"{self.processing_timeout:.0f} s; run the step again later"
                )
            self._sleep(self.poll_seconds)
        self._call(f"reading task {task.id}", task.fetch)
        return status, message

    def frame_names(self, task: Any) -> list[str]:
        return [f.name for f in self._call("reading frame names", task.get_frames_info)]

    def jobs(self, task: Any) -> list[Any]:
        """The task's annotation jobs; ground-truth and consensus jobs are reviewers' copies
        (a ground-truth job spans every frame) and neither gate nor answer a round."""
        jobs = self._call("listing jobs", task.get_jobs)
        return [
            j for j in jobs if str(enum_value(getattr(j, "type", "annotation"))) == "annotation"
        ]

    def assign(self, job: Any, user_id: int) -> None:
        self._call(f"assigning job {job.id}", lambda: job.update({"assignee": user_id}))

    def label_names(self, task: Any) -> dict[int, str]:
        return {label.id: label.name for label in self._call("reading labels", task.get_labels)}

    def prefill(self, task: Any, ref: Reference) -> None:
        """One tag of the learner's guess per frame, unless the task already has tags."""
        from cvat_sdk import models

        ids = {name: i for i, name in self.label_names(task).items()}
        tags = [
            models.LabeledImageRequest(
                frame=frame, label_id=ids[label], source=PREFILL_SOURCE, group=0, attributes=[]
            )
            for frame, label in enumerate(ref["predicted"])
            if label is not None and label in ids
        ]
        skipped = sorted({p for p in ref["predicted"] if p is not None and p not in ids})
        if skipped:
            log.warning(
                "CVAT: no label for predicted classes %s; those frames start empty", skipped
            )

        self._put_prefill(task, models.LabeledDataRequest(tags=tags), f"{len(tags)} tags")

    def prefill_boxes(self, task: Any, ref: Reference) -> None:
        """The predicted boxes as rectangles, unless the task already has annotations."""
        from cvat_sdk import models

        ids = {name: i for i, name in self.label_names(task).items()}
        prefill = [boxes or [] for boxes in ref["prefill"]]
        sizes = [tuple(size) for size in ref["sizes"]]
        shapes = [models.LabeledShapeRequest(**s) for s in prefill_shapes(prefill, sizes, ids)]
        self._put_prefill(task, models.LabeledDataRequest(shapes=shapes), f"{len(shapes)} boxes")

    def _put_prefill(self, task: Any, data: Any, what: str) -> None:
        def put() -> None:
            have = task.get_annotations()
            if have.tags or have.shapes or have.tracks:  # annotators' work (or a pre-fill) stays
                return
            task.set_annotations(data)

        self._call(f"pre-filling {what}", put)

    def job_tags(self, job: Any, labels: Mapping[int, str]) -> list[Tag]:
        annotations = self._call(f"reading job {job.id}", job.get_annotations)
        return [
            Tag(t.frame, labels.get(t.label_id), t.label_id, getattr(t, "source", "manual"))
            for t in annotations.tags
            if job.start_frame <= t.frame <= job.stop_frame
        ]

    def job_shapes(
        self, job: Any, labels: Mapping[int, str]
    ) -> tuple[list[Shape], set[int], set[int]]:
        """The job's shapes, the frames of its own that a track shows a box on, and those
        that carry an image-level tag."""
        annotations = self._call(f"reading job {job.id}", job.get_annotations)
        mine = range(job.start_frame, job.stop_frame + 1)
        shapes = [
            Shape(
                s.frame,
                str(enum_value(s.type)),
                tuple(s.points),
                labels.get(s.label_id),
                s.label_id,
                getattr(s, "source", "manual"),
            )
            for s in annotations.shapes
            if s.frame in mine
        ]
        tracked = {frame for track in annotations.tracks for frame in _track_frames(track, mine)}
        tagged = {t.frame for t in annotations.tags if t.frame in mine}
        return shapes, tracked, tagged

    def delete_task(self, task_id: int) -> None:
        from cvat_sdk.api_client.exceptions import NotFoundException

        def remove() -> None:
            try:
                self.client.tasks.retrieve(task_id).remove()
            except NotFoundException:
                log.info("CVAT task %s is already gone", task_id)

        self._call(f"deleting task {task_id}", remove)


def _track_frames(track: Any, frames: range) -> set[int]:
    """The frames of ``frames`` a track is visible on: from its start to its last keyframe,
    and on to the end when that keyframe is not ``outside`` (CVAT then interpolates on)."""
    keys = sorted(track.shapes, key=lambda shape: shape.frame)
    last = keys[-1].frame if keys else track.frame
    end = last if keys and keys[-1].outside else frames.stop - 1
    return set(range(max(track.frame, frames.start), min(end, frames.stop - 1) + 1))
