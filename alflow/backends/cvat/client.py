"""The cvat-sdk client as alflow sets it up, and the progress reporter it uploads with."""

from __future__ import annotations

import logging
from typing import Any

from alflow import progress
from alflow.backends.cvat.credentials import Connection
from alflow.config.backends import CvatBackendConfig
from alflow.services.environment import state_dir

_sdk_log = logging.getLogger("alflow.backends.cvat.sdk")


def open_client(conn: Connection, config: CvatBackendConfig) -> Any:
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


def enum_value(field: Any) -> Any:
    """The plain value of a cvat-sdk enum model (``JobType``, ``RequestStatus``), or ``field``."""
    return getattr(field, "value", field)
