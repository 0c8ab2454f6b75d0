"""The label-studio-sdk calls the backend makes, each retried as a unit that is safe to repeat.

Every call passes ``request_options=ONCE`` so the SDK does not retry behind alflow's back; every
library error leaves :func:`open_session` as a one-line :class:`BackendError`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, TypeVar

from alflow.backends.base import Reference
from alflow.backends.label_studio.credentials import Connection
from alflow.backends.label_studio.errors import LabelStudioTasksDeleted, reexport_hint, translate
from alflow.backends.label_studio.mapping import (
    MODEL_VERSION,
    Annotation,
    TaskState,
    label_config,
    with_classes,
)
from alflow.backends.label_studio.references import project_title
from alflow.backends.label_studio.retries import (
    ONCE,
    RetryPolicy,
    api_detail,
    call_with_retries,
    http_status,
)
from alflow.config.backends import LabelStudioBackendConfig
from alflow.errors import BackendError

log = logging.getLogger(__name__)
T = TypeVar("T")
PAGE = 100
STORAGE_TITLE = "alflow media (served in place)"


@contextmanager
def open_session(
    conn: Connection, config: LabelStudioBackendConfig, sleep: Callable[[float], None]
) -> Iterator[LabelStudioSession]:
    """A session whose token Label Studio accepted; every library error leaves as BackendError."""
    import httpx
    from label_studio_sdk import LabelStudio
    from label_studio_sdk.core.api_error import ApiError

    policy = RetryPolicy.from_config(config)
    try:
        with httpx.Client(timeout=config.timeout_seconds, follow_redirects=True) as http:
            # the SDK checks a personal access token's expiry here (401 when expired)
            client = LabelStudio(base_url=conn.url, api_key=conn.token, httpx_client=http)
            session = LabelStudioSession(client, conn.url, policy, sleep)
            session.check_token()
            yield session
    except BackendError:
        raise
    except (ApiError, httpx.HTTPError, OSError) as exc:
        raise translate(exc, conn, policy) from None


def _query(**parts: Any) -> str:
    return json.dumps(parts)


class LabelStudioSession:
    """The Label Studio calls the backend makes, each one retried as a unit safe to repeat."""

    def __init__(self, client: Any, url: str, policy: RetryPolicy, sleep: Callable) -> None:
        self.client = client
        self.url = url
        self.policy = policy
        self._sleep = sleep

    def _call(self, what: str, func: Callable[[], T]) -> T:
        return call_with_retries(what, func, self.policy, self._sleep)

    def check_token(self) -> int:
        """Ask who we are: proves the URL and the token before anything is created."""
        return self._call(
            "checking the API token", lambda: self.client.users.whoami(request_options=ONCE)
        ).id

    # ------------------------------------------------------------------ projects
    def ensure_project(self, loop: str, classes: Sequence[str]) -> Any:
        """The loop's project, created with a choice per class if missing (safe to repeat)."""
        title = project_title(loop)

        def find_or_create() -> Any:
            found = sorted(
                (
                    p
                    for p in self.client.projects.list(title=title, request_options=ONCE)
                    if p.title == title
                ),
                key=lambda p: p.id,
            )
            if len(found) > 1:
                log.warning(
                    "Label Studio has %d projects titled %r; alflow uses the oldest, id %d",
                    len(found), title, found[0].id,
                )  # fmt: skip
            if found:
                return self.client.projects.get(found[0].id, request_options=ONCE)
            return self.client.projects.create(
                title=title,
                description=f"alflow loop {loop!r}: one task per queried sample, every round",
                label_config=label_config(classes),
                show_collab_predictions=True,  # the learner's guess pre-fills the editor
                model_version=MODEL_VERSION,
                request_options=ONCE,
            )

        return self._call(f"finding or creating project {title!r}", find_or_create)

    def project(self, ref: Reference) -> Any:
        """The round's project; gone -> :class:`LabelStudioTasksDeleted`."""
        project_id = ref["project_id"]
        try:
            return self._call(
                "reading the project",
                lambda: self.client.projects.get(project_id, request_options=ONCE),
            )
        except Exception as exc:
            if http_status(exc) != 404:
                raise
        raise LabelStudioTasksDeleted(
            f"Label Studio project {project_id} ({ref.get('project_title')}) was deleted from "
            f"{self.url}, and round {ref.get('round')}'s tasks with it; their annotations are "
            f"lost. {reexport_hint(ref).capitalize()} (a new project and tasks, pre-filled again)"
        )

    def add_classes(self, project: Any, classes: Sequence[str]) -> None:
        """Give the project's labelling config a choice for every class it lacks."""

        def add() -> None:
            current = self.client.projects.get(project.id, request_options=ONCE)
            config = with_classes(current.label_config, classes, current.title)
            if config is not None:
                self.client.projects.update(project.id, label_config=config, request_options=ONCE)
                log.info("Label Studio project %r: added choices for %s", project.title, classes)

        self._call(f"adding choices to project {project.title!r}", add)

    # ------------------------------------------------------------------ images
    def ensure_storage(self, project: Any, path: str) -> None:
        """A local-files storage of the project covering ``path`` (never synced: alflow makes
        the tasks itself). Label Studio serves ``/data/local-files/`` only from such storages."""
        from label_studio_sdk.core.api_error import ApiError

        storages = self.client.import_storage.local

        def find_or_create() -> None:
            for storage in storages.list(project=project.id, request_options=ONCE):
                if storage.path and Path(path).is_relative_to(storage.path):
                    return
            storages.create(
                project=project.id,
                path=path,
                title=STORAGE_TITLE,
                use_blob_urls=True,
                regex_filter="^$",  # a sync from the UI imports nothing twice
                request_options=ONCE,
            )

        try:
            self._call(f"adding a local-files storage on {path}", find_or_create)
        except ApiError as exc:
            if exc.status_code != 400:
                raise
            raise BackendError(
                f"Label Studio at {self.url} refused a local-files storage on {path} "
                f"({api_detail(exc)}): start it with LOCAL_FILES_SERVING_ENABLED=true and "
                "LOCAL_FILES_DOCUMENT_ROOT set to backend.local_files_root (or a folder above "
                "it), or unset backend.local_files_root to upload the images"
            ) from None

    def upload(self, project: Any, staged: Mapping[str, str]) -> dict[str, str]:
        """Upload files (staged name -> path) without making tasks; returns name -> image URL
        (``/data/upload/<project>/<8 hex>-<name>``).

        The generated client has no multipart import, so the request goes through the SDK's own
        authenticated HTTP client (the same one its methods use, token refresh included).
        """
        http = self.client._client_wrapper.httpx_client

        def send() -> dict[str, str]:
            with ExitStack() as files:
                parts = {
                    name: (name, files.enter_context(open(path, "rb")))
                    for name, path in staged.items()
                }
                response = http.request(
                    f"api/projects/{project.id}/import",
                    method="POST",
                    params={"commit_to_project": "false"},
                    files=parts,
                    request_options=ONCE,
                )
            _raise_for(response)
            ids = response.json()["file_upload_ids"]
            if len(ids) != len(staged):
                raise BackendError(
                    f"Label Studio stored {len(ids)} files for {len(staged)} uploaded images: "
                    "run the export again"
                )
            # in the order of the request's parts (Label Studio cleans the names it stores)
            stored = [self.client.files.get(i, request_options=ONCE).file for i in ids]
            return {name: "/data/" + f.lstrip("/") for name, f in zip(staged, stored, strict=True)}

        return self._call(f"uploading {len(staged)} images", send)

    # ------------------------------------------------------------------ tasks
    def export_tasks(self, project_id: int, export_id: str) -> dict[str, int]:
        """Sample id -> task id of the tasks an export (by its id) made in the project."""
        query = _query(
            filters={
                "conjunction": "and",
                "items": [
                    {
                        "filter": "filter:tasks:data.alflow_export",
                        "operator": "equal",
                        "type": "String",
                        "value": export_id,
                    }
                ],
            }
        )

        def read() -> dict[str, int]:
            pager = self.client.tasks.list(
                project=project_id, query=query, page_size=PAGE, request_options=ONCE
            )
            return {str(t.data["alflow_sample_id"]): t.id for t in pager}

        return self._call("listing the export's tasks", read)

    def import_tasks(self, project_id: int, export_id: str, tasks: Sequence[dict]) -> None:
        """Import the tasks the export has not made yet (a retry adopts an earlier success)."""

        def create() -> None:
            made = self.export_tasks(project_id, export_id)
            missing = [t for t in tasks if t["data"]["alflow_sample_id"] not in made]
            if missing:
                self.client.projects.import_tasks(
                    project_id, request=missing, return_task_ids=True, request_options=ONCE
                )

        self._call(f"importing {len(tasks)} tasks", create)

    def round_tasks(self, ref: Reference) -> dict[int, TaskState]:
        """The round's tasks that still exist, with their annotations (drafts are not).

        A task counts only if it carries the round's export id: on SQLite, Label Studio reuses
        the ids of deleted tasks, so an id alone may name another round's task.
        """
        query = _query(selectedItems={"all": False, "included": list(ref["task_ids"])})
        export_id = ref["export_id"]

        def read() -> dict[int, TaskState]:
            pager = self.client.tasks.list(
                project=ref["project_id"],
                query=query,
                fields="all",
                page_size=PAGE,
                request_options=ONCE,
            )
            return {
                t.id: TaskState(t.id, tuple(Annotation.from_api(a) for a in t.annotations or ()))
                for t in pager
                if (t.data or {}).get("alflow_export") == export_id
            }

        return self._call("reading the round's tasks", read)

    def delete_tasks(self, task_ids: Sequence[int]) -> None:
        """Delete tasks (their annotations with them); a task already gone is fine."""

        def remove(task_id: int) -> None:
            try:
                self.client.tasks.delete(str(task_id), request_options=ONCE)
            except Exception as exc:
                if http_status(exc) != 404:
                    raise
                log.info("Label Studio task %s is already gone", task_id)

        for task_id in task_ids:
            self._call(f"deleting task {task_id}", lambda t=task_id: remove(t))


def _raise_for(response: Any) -> None:
    """An SDK ApiError for a failed raw response, as the generated methods raise."""
    from label_studio_sdk.core.api_error import ApiError

    if 200 <= response.status_code < 300:
        return
    try:
        body = response.json()
    except ValueError:
        body = response.text
    raise ApiError(status_code=response.status_code, headers=dict(response.headers), body=body)
