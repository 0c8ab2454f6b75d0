"""The Label Studio annotation backend: export, progress, collect and cancel of a round's tasks.

See the package docstring for how a round travels; the calls to Label Studio are in
:mod:`.session`, the pure mapping in :mod:`.mapping`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from alflow.backends.base import Batch, Collected, Progress, Reference
from alflow.backends.label_studio.credentials import Connection, resolve_connection
from alflow.backends.label_studio.errors import LabelStudioTasksDeleted, reexport_hint
from alflow.backends.label_studio.mapping import (
    local_files_url,
    open_tasks,
    progress_of,
    resolve_tasks,
    staged_name,
    storage_path,
    task_json,
)
from alflow.backends.label_studio.references import (
    check_batch,
    check_same_batch,
    check_server,
    new_reference,
    require,
)
from alflow.backends.label_studio.session import LabelStudioSession, open_session
from alflow.backends.secrets import load_prefect_secret
from alflow.config.backends import LabelStudioBackendConfig
from alflow.errors import BackendError, preview_ids

log = logging.getLogger(__name__)


class LabelStudioBackend:
    """Annotation backend that sends each round to the loop's Label Studio project as tasks.

    Args:
        config: the loop's Label Studio settings.
        environ: where to read ``ALFLOW_LABEL_STUDIO_*`` variables (default: ``os.environ``,
            read at every call so a changed environment is picked up).
        secret_loader: loads a Prefect Secret block's value by name (default: Prefect's
            ``Secret.load(name).get()``); only called when a block is configured.
        sleep: how to wait between retries (tests pass a fake clock).
    """

    kind = "label_studio"

    def __init__(
        self,
        config: LabelStudioBackendConfig | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        secret_loader: Callable[[str], Any] = load_prefect_secret,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config or LabelStudioBackendConfig()
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
        """Send the batch to the loop's project as tasks; see the package docstring.

        Args:
            batch: the round's queried samples and classes.
            save_ref: stores the reference; called as soon as the project and export id are
                known (before any task exists), and again once the tasks are made.
            ref: the round's earlier reference, if any: its tasks are reused and completed.
            force_new: make new tasks even though ``ref`` names some (the way to re-export a
                round whose tasks or project were deleted in Label Studio).

        Raises:
            LabelStudioTasksDeleted: ``ref``'s project no longer exists (and not ``force_new``).
            BackendError: the batch is unusable, or Label Studio is unreachable or refuses.
        """
        check_batch(batch)
        reuse = bool(ref and ref.get("export_id")) and not force_new
        with self._session(ref if reuse else None) as ls:
            if reuse:
                ref = dict(ref)
                check_same_batch(ref, batch)
                project = ls.project(ref)
            else:
                if ref and ref.get("task_ids"):
                    self._note_replaced(ls, ref)
                project = ls.ensure_project(batch.loop, batch.classes)
                ref = new_reference(batch, ls.url, project)
                save_ref(dict(ref))
            ls.add_classes(project, batch.classes)
            if "task_ids" not in ref:
                self._make_tasks(ls, batch, project, ref)
                save_ref(dict(ref))
        return ref

    def progress(self, ref: Reference) -> Progress:
        """Finished tasks (submitted, skipped or deleted) out of the round's tasks."""
        require(ref, "task_ids")
        with self._session(ref) as ls:
            return progress_of(ref, self._tasks(ls, ref))

    def collect(self, ref: Reference, *, partial: bool = False) -> Collected:
        """Answers from the submitted annotations; see :func:`.mapping.resolve_tasks`.

        Raises:
            BackendError: tasks are still open and not ``partial`` (says how many), a choice
                is unknown under ``unknown_labels="error"``, or Label Studio fails.
            LabelStudioTasksDeleted: the round's project, or every task of it, was deleted.
        """
        require(ref, "task_ids")
        with self._session(ref) as ls:
            tasks = self._tasks(ls, ref)
        waiting = open_tasks(ref, tasks)
        if waiting and not partial:
            raise BackendError(
                f"{len(waiting)} of {len(ref['task_ids'])} Label Studio tasks of round "
                f"{ref.get('round')} (project {ref['project_id']}) have no submitted annotation "
                f"(task ids {preview_ids(waiting)}): wait until annotators submit or skip them, "
                "or collect with partial=True"
            )
        return resolve_tasks(ref, tasks, unknown_labels=self.config.unknown_labels)

    def cancel(self, ref: Reference) -> None:
        """Delete the round's tasks, with their annotations; tasks already gone are fine."""
        if not ref.get("export_id"):
            return
        with self._session(ref) as ls:
            try:
                ls.project(ref)
            except LabelStudioTasksDeleted:
                log.info("Label Studio project %s is already gone", ref["project_id"])
                return
            # found by export id, never by the recorded ids alone: SQLite reuses deleted ids
            ls.delete_tasks(sorted(ls.export_tasks(ref["project_id"], ref["export_id"]).values()))

    # ------------------------------------------------------------------ helpers
    def connection(self) -> Connection:
        """The URL and token this backend would use (the token hidden from ``repr``)."""
        environ = os.environ if self._environ is None else self._environ
        return resolve_connection(self.config, environ, self._secret_loader)

    # ------------------------------------------------------------------ internals
    def _make_tasks(
        self, ls: LabelStudioSession, batch: Batch, project: Any, ref: Reference
    ) -> None:
        """Import a task per batch item (those not made by an earlier try) and record them."""
        made = ls.export_tasks(project.id, ref["export_id"])
        todo = [item for item in batch.items if item.sample_id not in made]
        todo_ids = {item.sample_id for item in todo}
        root = self.config.local_files_root
        urls = {item.sample_id: local_files_url(item.filepath, root) for item in todo}
        served = [item for item in todo if urls[item.sample_id]]
        if served:
            ls.ensure_storage(project, storage_path([item.filepath for item in served]))
        staged = {
            staged_name(i, item.filepath): item
            for i, item in enumerate(batch.items)
            if item.sample_id in todo_ids and not urls[item.sample_id]
        }
        if staged:
            uploaded = ls.upload(project, {name: it.filepath for name, it in staged.items()})
            urls.update({item.sample_id: uploaded[name] for name, item in staged.items()})
        if todo:
            tasks = [task_json(item, urls[item.sample_id], ref) for item in todo]
            ls.import_tasks(project.id, ref["export_id"], tasks)
            made = ls.export_tasks(project.id, ref["export_id"])
        lost = [sid for sid in batch.sample_ids if sid not in made]
        if lost:
            raise BackendError(
                f"Label Studio project {project.id} did not make tasks for samples "
                f"{preview_ids(lost)}: run the export again"
            )
        ref["task_ids"] = [made[sid] for sid in batch.sample_ids]
        ref["images"] = {"served": len(served), "uploaded": len(staged)}
        log.info(
            "Label Studio: round %s of loop %r is %d tasks in project %d (%d images served in "
            "place, %d uploaded)", batch.round_number, batch.loop, len(batch.items), project.id,
            len(served), len(staged),
        )  # fmt: skip

    def _tasks(self, ls: LabelStudioSession, ref: Reference) -> dict:
        """The round's tasks; the project gone, or every task of it -> deleted."""
        ls.project(ref)
        tasks = ls.round_tasks(ref)
        if not tasks:
            raise LabelStudioTasksDeleted(
                f"all {len(ref['task_ids'])} Label Studio tasks of round {ref.get('round')} "
                f"(project {ref['project_id']}) were deleted from {ls.url}; their annotations are "
                f"lost. {reexport_hint(ref).capitalize()} (new tasks, pre-filled again)"
            )
        return tasks

    @staticmethod
    def _note_replaced(ls: LabelStudioSession, ref: Reference) -> None:
        """Say what becomes of the earlier tasks of a round that gets new ones."""
        try:
            ls.project(ref)
            left = ls.round_tasks(ref)
        except LabelStudioTasksDeleted:
            left = {}
        if left:
            log.warning(
                "Label Studio: round %s gets new tasks; %d tasks of its earlier export are left "
                "in project %s (delete them so annotators do not work on both)",
                ref.get("round"), len(left), ref["project_id"],
            )  # fmt: skip

    @contextmanager
    def _session(self, ref: Reference | None) -> Iterator[LabelStudioSession]:
        conn = self.connection()
        if ref is not None:
            check_server(ref, conn.url)
        with open_session(conn, self.config, self._sleep) as session:
            yield session
