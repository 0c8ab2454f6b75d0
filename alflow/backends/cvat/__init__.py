"""Annotation in CVAT: one project per loop, one task per round, one tag (or, for a detection
loop, a set of rectangles) per image.

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
* **a detection batch** pre-fills every frame with the learner's boxes as rectangles instead
  (pixel corners from the images' sizes, kept by frame in the reference with the pre-fill), and
  collect reads the finished jobs' rectangles back as boxes, each named kept, moved,
  relabelled or added against the pre-fill; a frame with a track or another shape type is
  unresolved (:mod:`.rectangles`).
* **cancel** deletes the task (and the annotations in it); a task already gone is fine.

The reference (a JSON-able dict) names the server, project, task, jobs and, by frame index, the
sample ids and predicted labels. Exporting again with ``ref=`` reuses its task and completes
whatever the earlier run did not get to; only a task whose upload started but that holds no
images once CVAT's processing settled is replaced by a new one, because CVAT keeps the stray
files and refuses their names again (see :meth:`.backend.CvatBackend._upload`). If the task was
deleted in CVAT, :class:`CvatTaskDeleted` says so; re-export the round with
``export(batch, save_ref, force_new=True)`` (or after clearing the round's reference) to create
a new task.

The package's rooms: :mod:`.credentials` (URL and secrets), :mod:`.retries` (the one retry
layer), :mod:`.mapping` (pure: staged names, frames, jobs, tags), :mod:`.rectangles` (pure: boxes
and rectangles), :mod:`.references` (batch
checks and the round's reference), :mod:`.client` and :mod:`.session` (cvat-sdk, every call
retried as a safe unit), :mod:`.errors` (failures as one-line messages) and :mod:`.backend`.

Connection: URL from the config or ``ALFLOW_CVAT_URL``; credentials from a Prefect Secret block
(``credentials_block`` or ``ALFLOW_CVAT_SECRET_BLOCK``), else ``ALFLOW_CVAT_TOKEN``, else
``ALFLOW_CVAT_USERNAME``/``ALFLOW_CVAT_PASSWORD``. They never reach logs, errors or references.
Connection errors and 5xx answers are retried with exponential backoff in one place
(:func:`.retries.call_with_retries`); cvat-sdk's own urllib3 retries are switched off so they do
not multiply. 4xx answers are never retried.
"""

from alflow.backends.cvat.backend import CvatBackend
from alflow.backends.cvat.credentials import (
    ENV_PASSWORD,
    ENV_SECRET_BLOCK,
    ENV_TOKEN,
    ENV_URL,
    ENV_USERNAME,
    Connection,
)
from alflow.backends.cvat.errors import CvatTaskDeleted
from alflow.backends.cvat.retries import RetryPolicy

__all__ = [
    "ENV_PASSWORD",
    "ENV_SECRET_BLOCK",
    "ENV_TOKEN",
    "ENV_URL",
    "ENV_USERNAME",
    "Connection",
    "CvatBackend",
    "CvatTaskDeleted",
    "RetryPolicy",
]
