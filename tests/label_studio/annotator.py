"""A person working in Label Studio, simulated through its HTTP API as the browser makes the calls.

The :class:`Annotator` joins the organization through the invite link (the sign-up form), then
works with the session cookie and CSRF token, as Label Studio's own editor does: submits a
choice, skips a task, leaves a draft, changes an annotation, deletes a task or the project, adds
a choice to the labelling config. Tests read the server (with the administrator's token) only to
assert.
"""

from __future__ import annotations

import secrets
from typing import Any

import httpx

from alflow.backends.label_studio.mapping import choice_result, with_classes


class Annotator:
    """One Label Studio user, signed up through the invite link, working through the API."""

    def __init__(self, url: str, invite_token: str, email: str | None = None) -> None:
        self.url = url
        self.email = email or f"annotator-{secrets.token_hex(3)}@example.com"
        self.http = httpx.Client(base_url=url, follow_redirects=True, timeout=30)
        self.http.get(f"/user/signup/?token={invite_token}")
        self.http.post(
            f"/user/signup/?token={invite_token}",
            data={
                "email": self.email,
                "password": "pw-" + secrets.token_hex(8),
                "csrfmiddlewaretoken": self.http.cookies.get("csrftoken"),
            },
            headers={"Referer": url},
        )
        me = self.http.get("/api/current-user/whoami")
        me.raise_for_status()
        self.id: int = me.json()["id"]

    def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"X-CSRFToken": self.http.cookies.get("csrftoken"), "Referer": self.url}
        response = self.http.request(method, path, headers=headers, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    # ------------------------------------------------------------------ annotating
    def submit(self, task_id: int, *labels: str) -> int:
        """Submit an annotation choosing ``labels`` (one, as a rule); returns its id."""
        result = [r for label in labels for r in choice_result(label)]
        body = {"result": result, "lead_time": 2.5, "was_cancelled": False}
        return self._send("POST", f"/api/tasks/{task_id}/annotations/", json=body)["id"]

    def skip(self, task_id: int) -> int:
        """Press Skip: an annotation with no result, ``was_cancelled`` true."""
        body = {"result": [], "was_cancelled": True}
        return self._send("POST", f"/api/tasks/{task_id}/annotations/", json=body)["id"]

    def draft(self, task_id: int, label: str) -> None:
        """Leave a draft (the editor saves one while someone works; it is not an annotation)."""
        self._send("POST", f"/api/tasks/{task_id}/drafts", json={"result": choice_result(label)})

    def change(self, annotation_id: int, label: str) -> None:
        """Update a submitted annotation to another choice."""
        self._send(
            "PATCH", f"/api/annotations/{annotation_id}/", json={"result": choice_result(label)}
        )

    def annotate_all(self, task_ids: list[int], labels: list[str]) -> None:
        for task_id, label in zip(task_ids, labels, strict=True):
            self.submit(task_id, label)

    # ------------------------------------------------------------------ managing
    def delete_task(self, task_id: int) -> None:
        self._send("DELETE", f"/api/tasks/{task_id}/")

    def delete_project(self, project_id: int) -> None:
        self._send("DELETE", f"/api/projects/{project_id}/")

    def add_choice(self, project_id: int, label: str) -> None:
        """Add a choice to the labelling config, as a project manager does in Settings."""
        config = self._send("GET", f"/api/projects/{project_id}/")["label_config"]
        self._send(
            "PATCH",
            f"/api/projects/{project_id}/",
            json={"label_config": with_classes(config, [label])},
        )

    # ------------------------------------------------------------------ reading
    def task(self, task_id: int) -> dict:
        return self._send("GET", f"/api/tasks/{task_id}/")

    def image(self, task_id: int) -> httpx.Response:
        """Load the task's image as the editor does (served in place or uploaded)."""
        return self.http.get(self.task(task_id)["data"]["image"])
