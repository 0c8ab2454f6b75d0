"""The FiftyOne App's own server as a subprocess, and the operator routes its browser code calls.

The server is started the way ``fo.launch_app`` starts it (``fiftyone/server/main.py`` with
``--port`` and ``--address``), on loopback, in a process group of its own, so whoever started it
can kill it and everything it spawned. The request bodies below are the ones the App's
JavaScript sends (``/operators``, ``/operators/resolve-type``, ``/operators/execute``), so a
test through them sees what a person clicking in the App gets.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.app.operators import URI
from tests.e2e.services import Service, free_port, start_service, wait_for


def app_environment(prefect_api_url: str | None, base: dict[str, str] | None = None) -> dict:
    """The session's environment plus what the App needs to run alflow's operators.

    ``prefect_api_url`` is passed explicitly because a test harness keeps it in Prefect's
    settings context, not in ``os.environ``; without one the App's process would start
    Prefect's ephemeral server of its own on the first flow.
    """
    from alflow.app.launch import app_environment as extra

    env = {**(base if base is not None else os.environ), **extra()}
    if prefect_api_url:
        env["PREFECT_API_URL"] = prefect_api_url
    return env


@dataclass
class AppServer:
    """A running App server and the dataset context its browser code would send."""

    url: str
    service: Service

    def request(self, route: str, body: dict[str, Any] | None = None, timeout: float = 300):
        """POST ``body`` as JSON (GET without one); the decoded reply (raises on HTTP errors)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"{self.url}{route}", data=data, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as reply:
                return json.loads(reply.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[-3000:]
            raise AssertionError(
                f"{route} answered {exc.code}: {detail}\n{self.service.output()}"
            ) from exc

    def list_operators(self, dataset: str) -> dict[str, Any]:
        return self.request("/operators", {"dataset_name": dataset})

    def resolve_input(self, operator: str, dataset: str, params: dict[str, Any]) -> dict:
        return self.request(
            "/operators/resolve-type", _context(operator, dataset, params, "inputs")
        )

    def execute(self, operator: str, dataset: str, params: dict[str, Any]) -> dict[str, Any]:
        return self.request("/operators/execute", _context(operator, dataset, params))


def _context(operator: str, dataset: str, params: dict[str, Any], target: str | None = None):
    """The execution context the App sends for the unfiltered dataset and no selection."""
    body = {
        "current_sample": None,
        "dataset_name": dataset,
        "delegation_target": None,
        "extended": None,
        "extended_selection": None,
        "filters": {},
        "operator_uri": f"{URI}/{operator}",
        "params": params,
        "request_delegation": False,
        "selected": [],
        "selected_samples": [],
        "selected_labels": [],
        "view": [],
        "view_name": None,
        "group_slice": None,
    }
    if target is not None:
        body |= {"target": target, "results": None}
    return body


def answering(url: str) -> bool:
    """Whether FiftyOne's server answers at ``url`` (its ``/fiftyone`` route gives its version)."""
    try:
        with urllib.request.urlopen(f"{url}/fiftyone", timeout=2) as reply:
            return "version" in json.loads(reply.read())
    except (OSError, ValueError):
        return False


def start_app_server(env: dict[str, str], logs: Path, timeout: float = 120) -> AppServer:
    """Start the App's server on a free loopback port; returns once ``/fiftyone`` answers."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    logs.mkdir(parents=True, exist_ok=True)
    args = [sys.executable, "-m", "fiftyone.server.main", "--address", "127.0.0.1"]
    service = start_service("fiftyone-app", [*args, "--port", str(port)], env, logs)
    try:
        wait_for(lambda: answering(url), timeout, f"{url}/fiftyone", service)
    except BaseException:
        service.stop()
        raise
    return AppServer(url, service)


@contextmanager
def running_app(env: dict[str, str], logs: Path) -> Iterator[AppServer]:
    """The App server for the block; its whole process group is stopped afterwards."""
    server = start_app_server(env, logs)
    try:
        yield server
    finally:
        server.service.stop()
