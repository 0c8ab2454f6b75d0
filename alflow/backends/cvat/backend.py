"""The CVAT annotation backend: export, progress, collect and cancel of a round's task.

See the package docstring for how a round travels; the calls to CVAT are in :mod:`.session`,
the pure mapping in :mod:`.mapping`.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alflow.backends.base import DETECTION, Batch, Collected, Progress, Reference
from alflow.backends.cvat.credentials import Connection, check_url, resolve_connection
from alflow.backends.cvat.mapping import (
    JobSpan,
    frame_map,
    job_finished,
    progress_of,
    resolve_tags,
    staged_name,
)
from alflow.backends.cvat.rectangles import detection_reference, resolve_shapes
from alflow.backends.cvat.references import (
    check_batch,
    check_same_batch,
    check_server,
    new_reference,
    require,
)
from alflow.backends.cvat.retries import describe, is_transient
from alflow.backends.cvat.session import CvatSession, open_session
from alflow.backends.secrets import load_prefect_secret
from alflow.config import naming
from alflow.config.backends import CvatBackendConfig
from alflow.errors import BackendError, preview_ids

log = logging.getLogger(__name__)


class CvatBackend:
    """Annotation backend that sends each round to CVAT as one task of image tags (or, for a
    detection batch, of rectangles).

    Args:
        config: the loop's CVAT settings.
        environ: where to read ``ALFLOW_CVAT_*`` variables (default: ``os.environ``, read at
            every call so a changed environment is picked up).
        secret_loader: loads a Prefect Secret block's value by name (default: Prefect's
            ``Secret.load(name).get()``); only called when a block is configured.
        sleep: how to wait between retries (tests pass a fake clock).
    """

    kind = "cvat"

    def __init__(
        self,
        config: CvatBackendConfig | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        secret_loader: Callable[[str], Any] = load_prefect_secret,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config or CvatBackendConfig()
        self._environ = environ
        self._secret_loader = secret_loader
        self._sleep = sleep

    # ------------------------------------------------------------------ the contract
    def export(
        self,
        batch: Batch,
        save_ref: Callable[[Reference], None],
        *,
        ref: Reference | None = None,
        force_new: bool = False,
    ) -> Reference:
        """Send the batch to CVAT as the round's task; see the package docstring.

        Args:
            batch: the round's queried samples and classes.
            save_ref: stores the reference; called as soon as the task id is known, and again
                whenever frames, jobs or the pre-fill are added to it.
            ref: the round's earlier reference, if any: its task is reused and completed.
            force_new: create a new task even though ``ref`` names one (the way to re-export a
                round whose task was deleted in CVAT).

        Raises:
            CvatTaskDeleted: ``ref`` names a task that no longer exists (and not ``force_new``).
            BackendError: the batch is unusable, or CVAT is unreachable or refuses a request.
        """
        check_batch(batch)
        reuse = bool(ref and ref.get("task_id")) and not force_new
        with self._session(ref if reuse else None) as cvat:
            # looked up before any task exists, so a wrong name costs nothing; jobs already
            # recorded in a reused reference keep whatever assignment they have
            needs_assignee = self.config.assignee and not (reuse and "jobs" in ref)
            assignee = cvat.user_id(self.config.assignee) if needs_assignee else None
            if reuse:
                task = cvat.task(ref)
                project = cvat.project_by_id(ref["project_id"], ref)
                ref = dict(ref)
                check_same_batch(ref, batch)
            else:
                if ref and ref.get("task_id"):
                    cvat.note_replaced_task(ref)
                project = cvat.ensure_project(batch.loop, batch.classes)
                task = cvat.create_task(naming.round_name(batch.loop, batch.round_number), project)
                ref = new_reference(batch, cvat.url, project, task)
                save_ref(dict(ref))
            cvat.add_labels(project, batch.classes)
            self._complete(cvat, batch, project, task, ref, save_ref, assignee)
        return ref

    def progress(self, ref: Reference) -> Progress:
        """Finished jobs out of all jobs of the round's task."""
        require(ref, "task_id")
        with self._session(ref) as cvat:
            return progress_of(self._job_spans(cvat.jobs(cvat.task(ref))))

    def collect(self, ref: Reference, *, partial: bool = False) -> Collected:
        """Answers from the finished jobs' tags (:func:`resolve_tags`), or for a detection
        round their rectangles (:func:`resolve_shapes`).

        Raises:
            BackendError: jobs are still open and not ``partial`` (says how many), a label is
                unknown under ``unknown_labels="error"``, or CVAT fails.
            CvatTaskDeleted: the round's task was deleted in CVAT.
        """
        require(ref, "task_id", "frames")
        with self._session(ref) as cvat:
            task = cvat.task(ref)
            sdk_jobs = cvat.jobs(task)
            jobs = self._job_spans(sdk_jobs)
            open_jobs = [job.id for job in jobs if not job.finished]
            if open_jobs and not partial:
                raise BackendError(
                    f"{len(open_jobs)} of {len(jobs)} CVAT jobs of task {ref['task_id']} "
                    f"({ref.get('task_name')}) are not finished (job ids "
                    f"{preview_ids(open_jobs)}): wait until annotators complete them, or "
                    "collect with partial=True"
                )
            labels = cvat.label_names(task)
            finished = [job for job in sdk_jobs if job.id not in open_jobs]
            if ref.get("task") == DETECTION:
                shapes, tracked, tagged = [], set(), set()
                for job in finished:
                    found, touched, with_tags = cvat.job_shapes(job, labels)
                    shapes += found
                    tracked |= touched
                    tagged |= with_tags
            else:
                tags = [tag for job in finished for tag in cvat.job_tags(job, labels)]
        rule = self.config.unknown_labels
        if ref.get("task") == DETECTION:
            return resolve_shapes(ref, jobs, shapes, tracked, tagged, unknown_labels=rule)
        return resolve_tags(ref, jobs, tags, unknown_labels=rule)

    def cancel(self, ref: Reference) -> None:
        """Delete the round's CVAT task, with its annotations; a task already gone is fine."""
        if not ref.get("task_id"):
            return
        with self._session(ref) as cvat:
            cvat.delete_task(ref["task_id"])

    # ------------------------------------------------------------------ helpers
    def connection(self) -> Connection:
        """The URL and credentials this backend would use (secrets hidden from ``repr``)."""
        environ = os.environ if self._environ is None else self._environ
        return resolve_connection(self.config, environ, self._secret_loader)

    def check_url(self) -> None:
        """Refuse a URL with credentials in it from any source (before a round is opened)."""
        environ = os.environ if self._environ is None else self._environ
        check_url(self.config, environ, self._secret_loader)

    # ------------------------------------------------------------------ internals
    def _complete(
        self,
        cvat: CvatSession,
        batch: Batch,
        project: Any,
        task: Any,
        ref: Reference,
        save_ref: Callable[[Reference], None],
        assignee: int | None,
    ) -> None:
        """Upload, map frames, record jobs and pre-fill: whatever the reference still lacks."""
        staged = {staged_name(i, item.filepath): item for i, item in enumerate(batch.items)}
        if not cvat.has_data(task):
            task = self._upload(cvat, project, task, ref, save_ref, staged)
        if "frames" not in ref:
            frames = frame_map(
                cvat.frame_names(task), {n: it.sample_id for n, it in staged.items()}
            )
            items = {item.sample_id: item for item in batch.items}
            ref.update(frames=frames, predicted=[items[sid].predicted for sid in frames])
            if batch.task == DETECTION:
                ref.update(detection_reference([items[sid] for sid in frames], batch.match_iou))
            save_ref(dict(ref))
        if "jobs" not in ref:
            jobs = sorted(cvat.jobs(task), key=lambda j: j.start_frame)
            if assignee is not None:
                for job in jobs:
                    cvat.assign(job, assignee)
            ref["jobs"] = [
                {"id": j.id, "start_frame": j.start_frame, "stop_frame": j.stop_frame} for j in jobs
            ]
            ref["job_ids"] = [j.id for j in jobs]
            save_ref(dict(ref))
        if not ref.get("prefilled"):
            if ref.get("task") == DETECTION:
                cvat.prefill_boxes(task, ref)
            else:
                cvat.prefill(task, ref)
            ref["prefilled"] = True
            save_ref(dict(ref))

    def _upload(
        self,
        cvat: CvatSession,
        project: Any,
        task: Any,
        ref: Reference,
        save_ref: Callable[[Reference], None],
        staged: Mapping[str, Any],
    ) -> Any:
        """Upload the batch into a task exactly once; returns the task that holds the data.

        A task never receives a second upload: CVAT keeps the files of an interrupted upload
        and answers the same names with an error (or appends to them). So a task whose upload
        was started (``upload_started`` in the reference, saved first) but holds no data once
        CVAT's processing has settled is replaced by a new task; it has no frames, so no
        annotations are lost. Transfer failures and failed processing are retried this way up
        to ``retries`` times; waiting for the processing is a read, retried on its own.
        """
        policy = cvat.policy
        failure = "no attempt"
        with _staged_files(staged) as paths:
            for attempt in range(1, policy.attempts + 1):
                if attempt > 1:
                    delay = policy.delay(attempt - 1)
                    log.warning(
                        "CVAT: uploading to task %s failed (%s); retry %d of %d in %.2g s",
                        task.id, failure, attempt - 1, policy.retries, delay,
                    )  # fmt: skip
                    self._sleep(delay)
                cvat.settle(task)
                if cvat.has_data(task):
                    return task
                if ref.get("upload_started"):
                    task = self._replace_task(cvat, project, task, ref, save_ref)
                ref["upload_started"] = True
                save_ref(dict(ref))
                try:
                    cvat.send_data(task, paths)
                except Exception as exc:
                    if not is_transient(exc):
                        raise
                    failure = describe(exc)
                    continue
                status, message = cvat.settle(task)
                if cvat.has_data(task):
                    return task
                failure = f"CVAT's processing ended {status!r}: {message or 'no message'}"
        raise BackendError(
            f"uploading {len(staged)} images to CVAT task {task.id} ({ref.get('task_name')}) "
            f"failed {_times(policy.attempts)}; last: {failure}. Check the images and CVAT's "
            "logs, then run the step again (the task is replaced, nothing is lost)"
        )

    @staticmethod
    def _replace_task(
        cvat: CvatSession,
        project: Any,
        task: Any,
        ref: Reference,
        save_ref: Callable[[Reference], None],
    ) -> Any:
        """Delete a data-less task whose upload was started and create the round's task anew."""
        cvat.delete_task(task.id)
        new = cvat.create_task(ref["task_name"], project)
        log.warning(
            "CVAT: task %s (%s) got an upload that did not finish; replaced it by task %s "
            "(it held no images, so no annotations are lost)", task.id, ref["task_name"], new.id,
        )  # fmt: skip
        ref.update(task_id=new.id, task_name=new.name)
        ref.pop("upload_started", None)
        save_ref(dict(ref))
        return new

    def _job_spans(self, jobs: Sequence[Any]) -> list[JobSpan]:
        accept = self.config.accept_stage_acceptance
        return [
            JobSpan(j.id, j.start_frame, j.stop_frame, job_finished(j.state, j.stage, accept))
            for j in jobs
        ]

    @contextmanager
    def _session(self, ref: Reference | None = None) -> Iterator[CvatSession]:
        """A logged-in session (on the server of ``ref``, if given)."""
        conn = self.connection()
        if ref is not None:
            check_server(ref, conn.url)
        with open_session(conn, self.config, self._sleep) as session:
            yield session


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


@contextmanager
def _staged_files(staged: Mapping[str, Any]) -> Iterator[list[Path]]:
    """The batch's images under their staged names in a temporary folder, in batch order."""
    with tempfile.TemporaryDirectory(prefix="alflow-cvat-") as tmp:
        yield [_stage(Path(item.filepath), Path(tmp) / name) for name, item in staged.items()]


def _stage(source: Path, target: Path) -> Path:
    """Hard-link (or copy) ``source`` to ``target``: cvat-sdk resolves symlinks to the original
    name, so a symlink would upload under the original base name."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
    return target
