"""Where the App's flows run: as runs of alflow's deployments, or in the App's own process.

A deployment run is chosen only when it will be picked up: a Prefect API is configured, the
deployment exists there, and a worker with a fresh heartbeat polls its work pool. A run that no
worker starts within :data:`START_TIMEOUT` (a worker that died after its last heartbeat) is
cancelled, so no stale step runs later behind the user's back.

Where an operation ran is worth telling only to a user who pointed the App at a Prefect API of
their own (``PREFECT_API_URL``) and so expects alflow's deployments there: on alflow's own
servers (the managed one, or the one ``alflow app`` set up) the App's process is simply where
alflow runs, and the results say nothing about it (:attr:`Target.expected`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from alflow.errors import AlflowError

# the Prefect API alflow itself pointed the App at ('alflow app' sets it for its children)
OWN_API_ENV = "ALFLOW_APP_OWN_PREFECT_API_URL"
START_TIMEOUT = 90.0  # seconds for a worker to start a deployment run
FRESH_HEARTBEAT = 90.0  # seconds since a worker's last heartbeat for it to count as polling


@dataclass(frozen=True)
class Target:
    """Where a flow runs: ``deployment`` (with its name) or ``in_process``, and why;
    ``expected`` when the user's own Prefect API was meant to run alflow's deployments."""

    mode: str
    reason: str
    deployment: str | None = None
    expected: bool = False


def expects_deployments(user_url: str | None, own_urls: Iterable[str | None]) -> bool:
    """Whether ``PREFECT_API_URL`` (``user_url``) is a Prefect API of the user's own, where
    alflow's deployments were expected, rather than one of alflow's own servers."""
    if not user_url:
        return False
    own = {u.rstrip("/") for u in own_urls if u}
    return user_url.rstrip("/") not in own


def deployments_expected() -> bool:
    """:func:`expects_deployments` for this process: its ``PREFECT_API_URL`` against alflow's
    managed server and the API ``alflow app`` set up."""
    from alflow.services import prefect_server

    record = prefect_server.read_record()
    own = [os.environ.get(OWN_API_ENV), record.api_url if record else None]
    return expects_deployments(os.environ.get("PREFECT_API_URL"), own)


def polling(workers: Sequence[Any], now: datetime, fresh: float = FRESH_HEARTBEAT) -> list[Any]:
    """Workers that are online with a heartbeat newer than ``fresh`` seconds."""
    alive = []
    for worker in workers:
        status = str(getattr(worker.status, "value", worker.status)).upper()
        beat = worker.last_heartbeat_time
        if status == "ONLINE" and beat is not None:
            beat = beat if beat.tzinfo else beat.replace(tzinfo=UTC)
            if (now - beat).total_seconds() <= fresh:
                alive.append(worker)
    return alive


def execution_target(deployment: str) -> Target:
    """Run as ``deployment`` only when a Prefect API has it and a worker is polling its pool."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        return Target("in_process", "no Prefect API is configured (PREFECT_API_URL is not set)")
    expected = deployments_expected()
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            found = client.read_deployment_by_name(deployment)
        except ObjectNotFound:
            why = f"deployment {deployment!r} is not on {url} ('alflow deploy' adds it)"
            return Target("in_process", why, expected=expected)
        workers = client.read_workers_for_work_pool(found.work_pool_name)
    if not polling(workers, datetime.now(UTC)):
        why = f"no worker is polling work pool {found.work_pool_name!r} on {url}"
        return Target("in_process", why, expected=expected)
    return Target("deployment", f"deployment {deployment!r} on {url}", deployment, expected)


def run_url(flow_run_id: str) -> str | None:
    """The Prefect UI page of a flow run, when a server URL is known."""
    from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL

    from alflow.loop.crashes import flow_run_url

    return flow_run_url(PREFECT_UI_URL.value() or PREFECT_API_URL.value(), flow_run_id)


def run(target: Target, flow, parameters: dict[str, Any]) -> dict[str, Any]:
    """Run ``flow`` where ``target`` says; returns how it ran, the run's link, and whether the
    user expected alflow's deployments (``deployments_expected``: then the App says where)."""
    if target.mode != "deployment":
        return {
            "ran": f"in the App's process: {target.reason}",
            "run_url": None,
            "deployment_run": False,
            "deployments_expected": target.expected,
            "result": flow(**parameters),
        }
    from prefect.deployments import run_deployment

    flow_run = run_deployment(target.deployment, parameters=parameters, timeout=0)
    final = _wait(flow_run.id)
    link = run_url(str(flow_run.id))
    if not final.state.is_completed():
        raise AlflowError(
            f"flow run {final.name!r} of {target.deployment!r} ended {final.state.name}: "
            f"{final.state.message or 'see its logs'} ({link})"
        )
    return {
        "ran": target.reason,
        "run_url": link,
        "deployment_run": True,
        "deployments_expected": target.expected,
        "result": None,
    }


def _wait(flow_run_id, poll: float = 1.0):
    """The flow run once final; cancelled (and an error) if no worker starts it in time."""
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelled

    started = time.monotonic()
    with get_client(sync_client=True) as client:
        while True:
            current = client.read_flow_run(flow_run_id)
            if current.state.is_final():
                return current
            waiting = current.state.is_scheduled() or current.state.is_pending()
            if waiting and time.monotonic() - started > START_TIMEOUT:
                client.set_flow_run_state(flow_run_id, Cancelled(message="no worker started it"))
                raise AlflowError(
                    f"no worker started flow run {current.name!r} within {START_TIMEOUT:.0f} s, "
                    "so it was cancelled: start a worker ('prefect worker start --pool "
                    "alflow-process') or unset PREFECT_API_URL to run in the App's process"
                )
            time.sleep(poll)
