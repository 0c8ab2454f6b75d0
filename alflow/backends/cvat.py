"""Annotation in CVAT: one project per loop, one task per round, one tag per image.

How a round travels (all through cvat-sdk's high-level layer, each client inside a ``with``):

* **export** makes sure the loop's project ``alflow-<loop>`` exists with a label per class, creates
  the round's task ``<loop>-round-NNN`` and hands its id to ``save_ref`` *before* uploading, then
  uploads the images, reads the frame order back from the task's data meta, pre-fills every frame
  with one tag of the learner's guess and records the jobs (``segment_size`` frames each, optional
  assignee). Images are uploaded under staged names ``NNNNNN_<basename>`` with
  ``sorting_method: predefined``, so the frame -> sample map holds even when base names collide
  or sort differently from the batch.
* **progress** counts finished annotation jobs (ground-truth and consensus jobs are ignored):
  ``state == "completed"``, or ``stage == "acceptance"`` (``accept_stage_acceptance``, default
  on: CVAT resets the state to ``new`` when a reviewer changes the stage).
* **collect** reads the tags of finished jobs: exactly one tag -> :class:`Answer`, none or several
  -> :class:`Unresolved` (back to the pool), frames of unfinished jobs -> ``pending``.
* **cancel** deletes the task (and the annotations in it); a task already gone is fine.

The reference (a JSON-able dict) names the server, project, task, jobs and, by frame index, the
sample ids and predicted labels. Exporting again with ``ref=`` reuses its task and completes
whatever the earlier run did not get to; only a task whose upload started but that holds no
images once CVAT's processing settled is replaced by a new one, because CVAT keeps the stray
files and refuses their names again (see :meth:`CvatBackend._upload`). If the task was deleted
in CVAT, :class:`CvatTaskDeleted` says so; re-export the round with
``export(batch, save_ref, force_new=True)`` (or after clearing
the round's reference) to create a new task.

Connection: URL from the config or ``ALFLOW_CVAT_URL``; credentials from a Prefect Secret block
(``credentials_block`` or ``ALFLOW_CVAT_SECRET_BLOCK``), else ``ALFLOW_CVAT_TOKEN``, else
``ALFLOW_CVAT_USERNAME``/``ALFLOW_CVAT_PASSWORD``. They never reach logs, errors or references.
Connection errors and 5xx answers are retried with exponential backoff in one place
(:func:`call_with_retries`); cvat-sdk's own urllib3 retries are switched off so they do not
multiply. 4xx answers are never retried.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from alflow import naming, progress, versions
from alflow.backends.base import Answer, Batch, Collected, Progress, Reference, Unresolved
from alflow.config import CvatBackendConfig
from alflow.errors import BackendError, preview_ids
from alflow.settings import state_dir

log = logging.getLogger(__name__)
_sdk_log = logging.getLogger(f"{__name__}.sdk")

ENV_URL = "ALFLOW_CVAT_URL"
ENV_USERNAME = "ALFLOW_CVAT_USERNAME"
ENV_PASSWORD = "ALFLOW_CVAT_PASSWORD"
ENV_TOKEN = "ALFLOW_CVAT_TOKEN"
ENV_SECRET_BLOCK = "ALFLOW_CVAT_SECRET_BLOCK"

REF_VERSION = versions.REF_VERSION  # written into every reference, checked when one is read
PREFILL_SOURCE = "auto"  # CVAT's source for machine-made annotations
CREATE_REQUEST = "action=create&target=task&target_id={task_id}"  # CVAT's id of data processing
T = TypeVar("T")


class CvatTaskDeleted(BackendError):
    """The round's CVAT task no longer exists (deleted in CVAT, or the server was reset)."""


# ======================================================================== connection
@dataclass(frozen=True)
class Connection:
    """Where CVAT is and how to log in; ``repr`` and messages never show the secrets."""

    url: str
    source: str  # where the credentials came from, for messages ("ALFLOW_CVAT_TOKEN", ...)
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)


def clean_url(url: str) -> str:
    """The server URL as cvat-sdk normalizes it (``https://`` when no scheme, no trailing '/').

    Raises:
        BackendError: the URL carries credentials, or a scheme other than http/https.
    """
    url = url.strip()
    if not url:
        raise BackendError(f"the CVAT URL is empty: set backend.url or {ENV_URL}")
    if "://" not in url:
        url = "https://" + url
    parts = urlsplit(url)
    if parts.username or parts.password:
        # the URL is logged and stored in references, so it must not carry secrets
        raise BackendError(
            f"the CVAT URL contains a user name or password: remove them from the URL and set "
            f"{ENV_USERNAME}/{ENV_PASSWORD} or {ENV_TOKEN} instead"
        )
    if parts.scheme not in ("http", "https"):
        raise BackendError(
            f"the CVAT URL {url!r} has scheme {parts.scheme!r}: use 'https://' or 'http://'"
        )
    return url.rstrip("/")


def parse_secret(value: Any, block: str) -> dict[str, str]:
    """Credentials from a Prefect Secret value: a dict, its JSON text, or a bare access token."""
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise BackendError(
                f"Prefect Secret block {block!r} holds text that starts like JSON but is not: "
                "store {'username': ..., 'password': ...}, {'token': ...} or a bare token"
            ) from None
    if isinstance(value, str) and value.strip():
        return {"token": value.strip()}
    if isinstance(value, Mapping):
        if value.get("token"):
            return {"token": str(value["token"])}
        if value.get("username") and value.get("password"):
            return {"username": str(value["username"]), "password": str(value["password"])}
    raise BackendError(
        f"Prefect Secret block {block!r} holds no CVAT credentials: store "
        "{'username': ..., 'password': ...}, {'token': ...} or a bare access token"
    )


def load_prefect_secret(name: str) -> Any:
    """The value of a Prefect Secret block (imported only when a block is configured)."""
    from prefect.blocks.system import Secret

    return Secret.load(name).get()


def resolve_connection(
    config: CvatBackendConfig,
    environ: Mapping[str, str],
    load_secret: Callable[[str], Any] = load_prefect_secret,
) -> Connection:
    """Find the URL and credentials: Secret block, else token, else username and password.

    Raises:
        BackendError: no URL, no credentials, half a username/password pair, or the Secret
            block cannot be loaded.
    """
    raw_url = config.url or environ.get(ENV_URL)
    if not raw_url:
        raise BackendError(f"no CVAT URL: set backend.url in the loop configuration or {ENV_URL}")
    url = clean_url(raw_url)
    block = config.credentials_block or environ.get(ENV_SECRET_BLOCK)
    if block:
        try:
            value = load_secret(block)
        except Exception as exc:  # whatever Prefect raises, the fix is the same
            raise BackendError(
                f"cannot load the Prefect Secret block {block!r} with the CVAT credentials "
                f"({type(exc).__name__}: {exc}): create it, or unset backend.credentials_block "
                f"and {ENV_SECRET_BLOCK} to use the {ENV_TOKEN} or {ENV_USERNAME} variables"
            ) from exc
        return Connection(url, f"Prefect Secret block {block!r}", **parse_secret(value, block))
    if environ.get(ENV_TOKEN):
        return Connection(url, ENV_TOKEN, token=environ[ENV_TOKEN])
    username, password = environ.get(ENV_USERNAME), environ.get(ENV_PASSWORD)
    if username and password:
        return Connection(url, f"{ENV_USERNAME}/{ENV_PASSWORD}", username, password)
    if username or password:
        missing = ENV_PASSWORD if username else ENV_USERNAME
        raise BackendError(f"{missing} is not set: CVAT needs both a user name and a password")
    raise BackendError(
        f"no CVAT credentials: set {ENV_TOKEN}, or {ENV_USERNAME} and {ENV_PASSWORD}, or name a "
        f"Prefect Secret block in backend.credentials_block or {ENV_SECRET_BLOCK}"
    )


# =========================================================================== retries
@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry a transient failure."""

    retries: int = 4
    backoff: float = 1.0
    max_backoff: float = 30.0

    @classmethod
    def from_config(cls, config: CvatBackendConfig) -> RetryPolicy:
        return cls(config.retries, config.backoff_seconds, config.backoff_max_seconds)

    @property
    def attempts(self) -> int:
        return self.retries + 1

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based): exponential, capped."""
        return min(self.backoff * 2 ** (retry - 1), self.max_backoff)


def http_status(exc: BaseException) -> int | None:
    """The HTTP status of a cvat-sdk API error (None for other errors)."""
    from cvat_sdk.api_client.exceptions import ApiException

    return exc.status if isinstance(exc, ApiException) else None


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: the connection failed or the server answered 5xx. Never a 4xx."""
    import urllib3

    if isinstance(exc, urllib3.exceptions.HTTPError | ConnectionError):
        return True
    status = http_status(exc)
    return status is not None and 500 <= status <= 599


def call_with_retries(
    what: str, func: Callable[[], T], policy: RetryPolicy, sleep: Callable[[float], None]
) -> T:
    """Call ``func``, retrying transient failures with exponential backoff; the one retry layer.

    Each retried unit must be safe to repeat (see the ``_Session`` methods): a read, an
    idempotent write, or a write that first looks for its own earlier effect.
    """
    attempt = 1
    while True:
        try:
            return func()
        except Exception as exc:
            if not is_transient(exc) or attempt >= policy.attempts:
                raise
            delay = policy.delay(attempt)
            log.warning(
                "CVAT: %s failed (%s); retry %d of %d in %.2g s",
                what, describe(exc), attempt, policy.retries, delay,
            )  # fmt: skip
            sleep(delay)
            attempt += 1


def describe(exc: BaseException) -> str:
    """A one-line cause for messages: the HTTP status or the connection error, never headers."""
    status = http_status(exc)
    if status:
        return f"HTTP {status} {getattr(exc, 'reason', '') or ''}".strip()
    reason = getattr(exc, "reason", None) or exc  # urllib3 MaxRetryError wraps the real cause
    return f"{type(reason).__name__}: {reason}"


# ====================================================================== pure logic
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
    by_frame: dict[int, list[Tag]] = {}
    for tag in tags:
        if not 0 <= tag.frame < len(frames):
            raise BackendError(
                f"CVAT task {ref['task_id']} has a tag on frame {tag.frame}, but the round's "
                f"reference knows {len(frames)} frames: the reference does not match the task"
            )
        by_frame.setdefault(tag.frame, []).append(tag)

    answers, unresolved, pending = [], [], []
    covered = {frame for job in jobs for frame in job.frames()}
    for frame in sorted(set(range(len(frames))) - covered):
        unresolved.append(Unresolved(frames[frame], f"frame {frame} is in no CVAT job"))
    for job in sorted(jobs, key=lambda j: j.start_frame):
        for frame in job.frames():
            sample_id = frames[frame]
            if not job.finished:
                pending.append(sample_id)
                continue
            outcome = _resolve_frame(ref, job, frame, by_frame.get(frame, []), predicted[frame])
            if isinstance(outcome, Answer) and outcome.label not in classes:
                _check_unknown(ref, frame, sample_id, outcome.label, classes, unknown_labels)
            (answers if isinstance(outcome, Answer) else unresolved).append(outcome)
    return Collected(tuple(answers), tuple(unresolved), tuple(pending))


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


MAX_LABEL_LENGTH = 64  # CVAT's Label.name is a 64-character field


def check_label_names(classes: Sequence[str], where: str) -> None:
    """Refuse class names CVAT cannot store as label names (it would cut them short)."""
    long = [c for c in classes if len(c) > MAX_LABEL_LENGTH]
    if long:
        raise BackendError(
            f"{where}: CVAT label names have at most {MAX_LABEL_LENGTH} characters, but "
            f"{len(long)} classes are longer ({preview_ids(long)}); rename those classes"
        )


def check_batch(batch: Batch) -> None:
    """Refuse a batch CVAT cannot take, before anything is created there.

    Raises:
        BackendError: empty batch, no classes, repeated sample ids or missing image files.
    """
    where = f"loop {batch.loop!r} round {batch.round_number}"
    if not batch.items:
        raise BackendError(f"{where}: the batch is empty; nothing to annotate")
    if not batch.classes:
        raise BackendError(f"{where}: the batch has no classes for annotators to choose from")
    check_label_names(batch.classes, where)
    repeated = sorted(sid for sid, n in Counter(batch.sample_ids).items() if n > 1)
    if repeated:
        raise BackendError(
            f"{where}: sample ids appear twice in the batch: {preview_ids(repeated)}"
        )
    missing = [item.filepath for item in batch.items if not Path(item.filepath).is_file()]
    if missing:
        raise BackendError(
            f"{where}: {len(missing)} image files do not exist: {preview_ids(missing)}; "
            "check the dataset's filepaths"
        )
    # CVAT tells images from other files by their extension; others would be left out
    odd = [
        item.sample_id
        for item in batch.items
        if not (mimetypes.guess_type(item.filepath)[0] or "").startswith("image/")
    ]
    if odd:
        raise BackendError(
            f"{where}: {len(odd)} samples' files have no image extension CVAT recognises "
            f"(samples {preview_ids(odd)}); give them their format's extension (.png, .jpg, ...)"
        )


def new_reference(batch: Batch, url: str, project: Any, task: Any) -> Reference:
    """The reference of a freshly created task (frames and jobs follow once known)."""
    return {
        "kind": "cvat",
        "version": REF_VERSION,
        "url": url,
        "loop": batch.loop,
        "round": batch.round_number,
        "project_id": project.id,
        "project_name": project.name,
        "task_id": task.id,
        "task_name": task.name,
        "classes": list(batch.classes),
        "sample_ids": batch.sample_ids,  # upload order; frames (below) is the task's order
    }


# ========================================================================== backend
class CvatBackend:
    """Annotation backend that sends each round to CVAT as one task of image tags.

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
        """Send the batch to CVAT as the round's task; see the module docstring.

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
                _check_same_batch(ref, batch)
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
        _require(ref, "task_id")
        with self._session(ref) as cvat:
            return progress_of(self._job_spans(cvat.jobs(cvat.task(ref))))

    def collect(self, ref: Reference, *, partial: bool = False) -> Collected:
        """Answers from the finished jobs' tags; see :func:`resolve_tags`.

        Raises:
            BackendError: jobs are still open and not ``partial`` (says how many), a label is
                unknown under ``unknown_labels="error"``, or CVAT fails.
            CvatTaskDeleted: the round's task was deleted in CVAT.
        """
        _require(ref, "task_id", "frames")
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
            tags = [
                tag
                for job in sdk_jobs
                if job.id not in open_jobs
                for tag in cvat.job_tags(job, labels)
            ]
        return resolve_tags(ref, jobs, tags, unknown_labels=self.config.unknown_labels)

    def cancel(self, ref: Reference) -> None:
        """Delete the round's CVAT task, with its annotations; a task already gone is fine."""
        if not ref.get("task_id"):
            return
        with self._session(ref) as cvat:
            cvat.delete_task(ref["task_id"])

    # ------------------------------------------------------------------ helpers
    def add_classes(self, loop: str, classes: Sequence[str]) -> list[str]:
        """Add labels for new classes to the loop's CVAT project (created if missing).

        Call this when the loop's class map grows; later rounds' annotators can pick them.

        Returns:
            The class names that were added (those the project lacked).
        """
        check_label_names(classes, f"loop {loop!r}")
        with self._session() as cvat:
            project = cvat.ensure_project(loop, ())
            return cvat.add_labels(project, classes)

    def connection(self) -> Connection:
        """The URL and credentials this backend would use (secrets hidden from ``repr``)."""
        environ = os.environ if self._environ is None else self._environ
        return resolve_connection(self.config, environ, self._secret_loader)

    # ------------------------------------------------------------------ internals
    def _complete(
        self,
        cvat: _Session,
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
            predicted = {item.sample_id: item.predicted for item in batch.items}
            ref.update(frames=frames, predicted=[predicted[sid] for sid in frames])
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
            cvat.prefill(task, ref)
            ref["prefilled"] = True
            save_ref(dict(ref))

    def _upload(
        self,
        cvat: _Session,
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
        cvat: _Session,
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

    @staticmethod
    def _check_server(ref: Reference, url: str) -> None:
        """Refuse to look for a round's task on another server than the one it went to, or
        a reference of a newer schema than this alflow reads."""
        versions.upgrade("CVAT reference", ref, f"round {ref.get('task_name')}")
        if ref.get("url") and clean_url(ref["url"]) != url:
            raise BackendError(
                f"round {ref.get('task_name')} was exported to CVAT at {ref['url']}, but the "
                f"backend now points at {url}: set backend.url or {ENV_URL} back to that server"
            )

    @contextmanager
    def _session(self, ref: Reference | None = None) -> Iterator[_Session]:
        """A logged-in cvat-sdk client (on the server of ``ref``, if given); every library
        error leaves as a BackendError."""
        from cvat_sdk.api_client.exceptions import OpenApiException
        from cvat_sdk.core.exceptions import CvatSdkException
        from urllib3.exceptions import HTTPError

        conn = self.connection()
        if ref is not None:
            self._check_server(ref, conn.url)
        policy = RetryPolicy.from_config(self.config)
        try:
            with _open_client(conn, self.config) as client:
                session = _Session(client, conn.url, policy, self._sleep, self.config)
                session.reach()
                session.login(conn)
                yield session
        except BackendError:
            raise
        except (OpenApiException, CvatSdkException, HTTPError, OSError) as exc:
            raise _translate(exc, conn, policy) from None


# ========================================================================= sessions
def _open_client(conn: Connection, config: CvatBackendConfig) -> Any:
    """A cvat-sdk Client with its cache under the state directory and no retries of its own."""
    import urllib3
    from cvat_sdk import Client, Config
    from cvat_sdk.api_client import rest

    sdk_config = Config(
        cache_dir=state_dir() / "cvat-cache",
        status_check_period=config.poll_seconds,
        allow_unsupported_server=True,
    )
    client = Client(conn.url, logger=_sdk_log, config=sdk_config, check_server_version=False)
    # every request (project lookup included) in the organization's context, as CVAT's UI does
    client.organization_slug = config.organization
    # cvat-sdk's urllib3 pool retries 502-504 three times by itself; call_with_retries is the
    # only retry layer, so the pool is rebuilt (through the SDK's own constructor) without them
    configuration = client.api_client.configuration
    configuration.retries = urllib3.Retry(
        total=None, connect=0, read=0, status=0, other=0, redirect=3, raise_on_status=False
    )
    client.api_client.rest_client = rest.RESTClientObject(configuration)
    client.api_client.rest_client.pool_manager.connection_pool_kw["timeout"] = urllib3.Timeout(
        connect=min(config.timeout_seconds, 30.0), read=config.timeout_seconds
    )
    return client


# (server, version) pairs whose mismatch this process has logged: a step opens several
# backends and sessions (export, progress, collect), and the note is worth reading once
_VERSIONS_NOTED: set[tuple[str, str]] = set()


def reexport_hint(ref: Reference) -> str:
    """How to give a round whose task is gone a new one."""
    if "loop" in ref and "round" in ref:
        return f"re-export the round: alflow reexport {ref['loop']} {ref['round']}"
    return "re-export the round: alflow reexport <loop> <round>"


class _Session:
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
        """Ask the server for its version (proves the URL); note a mismatch once per process."""
        version = self._call("reaching the server", self.client.get_server_version)
        supported = {(v.major, v.minor) for v in self.client.SUPPORTED_SERVER_VERSIONS}
        noted = (self.url, str(version))
        if (version.major, version.minor) not in supported and noted not in _VERSIONS_NOTED:
            _VERSIONS_NOTED.add(noted)
            from cvat_sdk.version import VERSION

            log.warning(
                "CVAT at %s runs version %s; cvat-sdk %s is made for %s. alflow goes on: the "
                "calls it makes are the same in both", self.url, version, VERSION,
                " and ".join(f"{a}.{b}" for a, b in sorted(supported)),
            )  # fmt: skip

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
            raise BackendError(
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
            return str(_value(request.status)), request.message or ""

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
        return [j for j in jobs if str(_value(getattr(j, "type", "annotation"))) == "annotation"]

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

        def put() -> None:
            if task.get_annotations().tags:  # annotators' work (or an earlier pre-fill) stays
                return
            task.set_annotations(models.LabeledDataRequest(tags=tags))

        self._call(f"pre-filling {len(tags)} tags", put)

    def job_tags(self, job: Any, labels: Mapping[int, str]) -> list[Tag]:
        annotations = self._call(f"reading job {job.id}", job.get_annotations)
        return [
            Tag(t.frame, labels.get(t.label_id), t.label_id, getattr(t, "source", "manual"))
            for t in annotations.tags
            if job.start_frame <= t.frame <= job.stop_frame
        ]

    def delete_task(self, task_id: int) -> None:
        from cvat_sdk.api_client.exceptions import NotFoundException

        def remove() -> None:
            try:
                self.client.tasks.retrieve(task_id).remove()
            except NotFoundException:
                log.info("CVAT task %s is already gone", task_id)

        self._call(f"deleting task {task_id}", remove)


def sdk_progress(description: str) -> Any:
    """A cvat-sdk ``ProgressReporter`` that reports through :mod:`alflow.progress`.

    cvat-sdk calls ``start2``/``advance``/``finish`` once per upload attempt; the bar (or the
    plain lines off a terminal) then behaves like alflow's other long steps.
    """
    from cvat_sdk.core.progress import ProgressReporter

    class _Reporter(ProgressReporter):
        def __init__(self) -> None:
            self.report: progress.Report | None = None
            self.done = 0

        def start2(self, total: int, *, unit: str = "it", **_: Any) -> None:
            self.report = progress.start(description, total, unit)
            self.done = 0

        def advance(self, delta: int) -> None:
            self.done += delta
            if self.report is not None:
                self.report.advance(delta)

        def report_status(self, progress: int) -> None:
            self.advance(progress - self.done)

        def finish(self) -> None:
            if self.report is not None:
                self.report.close()
                self.report = None

    return _Reporter()


def _value(field: Any) -> Any:
    """The plain value of a cvat-sdk enum model (``JobType``, ``RequestStatus``), or ``field``."""
    return getattr(field, "value", field)


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


def _require(ref: Reference, *keys: str) -> None:
    missing = [key for key in keys if key not in ref]
    if missing:
        raise BackendError(
            f"the round's CVAT reference lacks {', '.join(missing)}: its export did not finish; "
            "run the export again to complete it"
        )


def _check_same_batch(ref: Reference, batch: Batch) -> None:
    known = ref.get("sample_ids") or ref.get("frames")
    if known is not None and sorted(known) != sorted(batch.sample_ids):
        raise BackendError(
            f"CVAT task {ref['task_id']} holds a different batch than round "
            f"{batch.round_number} of loop {batch.loop!r}: re-export with force_new=True"
        )


def _translate(exc: BaseException, conn: Connection, policy: RetryPolicy) -> BackendError:
    """A BackendError naming the URL, the cause and the fix; never the credentials."""
    from cvat_sdk.core.exceptions import BackgroundRequestException
    from urllib3.exceptions import HTTPError

    status = http_status(exc)
    tries = f"after {policy.attempts} attempts" if policy.attempts > 1 else "(no retries)"
    if status == 401:
        return BackendError(
            f"CVAT at {conn.url} did not accept the credentials from {conn.source} (HTTP 401): "
            "the access token may be wrong or expired"
        )
    if status is not None and 500 <= status <= 599:
        return BackendError(
            f"CVAT at {conn.url} kept failing {tries} ({describe(exc)}): the server is down or "
            "overloaded; try again later"
        )
    if isinstance(exc, HTTPError | ConnectionError):
        return BackendError(
            f"cannot reach CVAT at {conn.url} {tries} ({describe(exc)}): check the URL (scheme "
            "'https://' or 'http://', host and port) and that the server is running"
        )
    if isinstance(exc, OSError):
        return BackendError(f"cannot stage the batch images for upload: {exc}")
    if isinstance(exc, BackgroundRequestException):
        return BackendError(
            f"CVAT at {conn.url} could not process the uploaded images: {exc}; cancel the "
            "round's task and re-export the round with force_new=True"
        )
    if status == 0:  # cvat-sdk's code for a TLS failure
        return BackendError(
            f"cannot talk to CVAT at {conn.url} ({getattr(exc, 'reason', exc)}): if the server "
            "speaks plain HTTP write 'http://' explicitly, otherwise check its certificate"
        )
    if status is not None:
        return BackendError(f"CVAT at {conn.url} refused a request ({describe(exc)}): {_body(exc)}")
    return BackendError(f"CVAT at {conn.url}: {type(exc).__name__}: {exc}")


def _body(exc: BaseException) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    return (body or "no details").strip()[:300]
