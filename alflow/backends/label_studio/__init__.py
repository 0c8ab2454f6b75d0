"""Annotation in Label Studio: one project per loop, one task per queried image, one choice each.

How a round travels (all through label-studio-sdk's ``LabelStudio`` client):

* **export** makes sure the loop's project ``alflow-<loop>`` exists, with a labelling config of
  the image and one single ``<Choices name="label">`` holding a choice per class (choices are
  added for new classes, anything a person added to the config is kept), and hands the project
  and a fresh *export id* to ``save_ref`` before any task exists. Then every batch image
  becomes a task whose data carries the image URL and alflow's ids (``alflow_sample_id``,
  ``alflow_loop``, ``alflow_round``, ``alflow_export``), with the learner's guess as a
  prediction scored by its confidence (model version ``alflow``; the project shows predictions
  in the editor, and the Data Manager sorts by prediction score). Images under
  ``backend.local_files_root`` are served in place through a local-files storage on the
  batch's media folder (the server must run with ``LOCAL_FILES_SERVING_ENABLED=true`` and that
  ``LOCAL_FILES_DOCUMENT_ROOT``); the others are uploaded (Label Studio keeps a copy). The tasks
  are found again by their export id, so an interrupted export completes what it began and
  never imports a task twice.
* **progress** counts the round's finished tasks: a task is finished when it has a submitted
  annotation (drafts are not annotations) or was skipped; a deleted task is finished too.
* **collect**: a task with submitted annotations that agree on one choice -> :class:`Answer`;
  skipped, deleted, no choice, several choices or disagreeing annotators -> :class:`Unresolved`
  (back to the pool, listed with the reason); open tasks -> ``pending`` (partial collect only).
* **cancel** deletes the round's tasks (and their annotations); tasks already gone are fine.

A deleted project, or every task of the round deleted, is :class:`LabelStudioTasksDeleted`,
whose message names ``alflow reexport <loop> <round>`` (``export(..., force_new=True)``).

Why a project per loop: the classes (the labelling config) and the annotators' settings belong
to the loop, annotators find every round in one place, and the round is told apart by the task
data (filter the Data Manager on ``alflow_round``). Detection rectangles are a later issue.

The package's rooms: :mod:`.credentials` (URL and token), :mod:`.retries` (the one retry
layer), :mod:`.mapping` (pure: labelling config, task JSON, annotations to answers),
:mod:`.references` (batch checks and the round's reference), :mod:`.session` (label-studio-sdk
calls), :mod:`.errors` (failures as one-line messages) and :mod:`.backend`.

Connection: URL from the config or ``ALFLOW_LABEL_STUDIO_URL``; the API token (a personal access
token or a legacy token, see :mod:`.credentials`) from a Prefect Secret block
(``credentials_block`` or ``ALFLOW_LABEL_STUDIO_SECRET_BLOCK``), else
``ALFLOW_LABEL_STUDIO_TOKEN``; it never reaches logs, errors or references.
"""

from alflow.backends.label_studio.backend import LabelStudioBackend
from alflow.backends.label_studio.credentials import (
    ENV_SECRET_BLOCK,
    ENV_TOKEN,
    ENV_URL,
    Connection,
    token_kind,
)
from alflow.backends.label_studio.errors import LabelStudioTasksDeleted
from alflow.backends.label_studio.retries import RetryPolicy

__all__ = [
    "ENV_SECRET_BLOCK",
    "ENV_TOKEN",
    "ENV_URL",
    "Connection",
    "LabelStudioBackend",
    "LabelStudioTasksDeleted",
    "RetryPolicy",
    "token_kind",
]
