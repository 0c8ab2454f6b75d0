"""A team's own retraining job, run after a round's labels are ingested: a run of a Prefect
deployment of its training flow, or a Python entry point called in the round's flow run.

Both get the same four parameters (:func:`parameters`), nothing secret: the dataset, the loop's
label field, the round and the predictions field to rewrite. A deployment run is recorded in the
round's ledger entry as soon as it exists, so a step that stopped while waiting waits on the
same run when it resumes, and only a run that ended without completing is replaced by a new one.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from typing import Any

from alflow.config import naming
from alflow.config.loop import LoopConfig
from alflow.config.own_model import DeploymentRetrain, EntryPointRetrain
from alflow.errors import ConfigError, RetrainError
from alflow.loop.crashes import flow_run_url

START_TIMEOUT = 90.0  # seconds for a worker to start the deployment's run
POLL_SECONDS = 1.0


def parameters(config: LoopConfig, round_number: int) -> dict[str, Any]:
    """What the training job is given (run parameters are stored by Prefect: nothing secret)."""
    return {
        "dataset": config.dataset,
        "label_field": naming.label_field(config.name),
        "round_number": round_number,
        "predictions_field": config.scorer.field,
    }


def entry_point(hook: EntryPointRetrain) -> Callable[..., Any]:
    """The function ``module:function`` names, or a ConfigError saying what is missing."""
    module_name, function_name = hook.target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"retraining entry point {hook.target!r}: module {module_name!r} cannot be imported "
            f"({exc}); install it where the round's flow runs, or correct scorer.retrain.target"
        ) from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise ConfigError(
            f"retraining entry point {hook.target!r}: module {module_name!r} has no function "
            f"{function_name!r}; correct scorer.retrain.target"
        )
    return function


def call_entry_point(hook: EntryPointRetrain, params: dict[str, Any]) -> dict[str, Any]:
    """Call the entry point; its failure is one RetrainError line (the traceback is chained)."""
    function = entry_point(hook)
    started = time.monotonic()
    try:
        function(**params)
    except Exception as exc:
        raise RetrainError(
            f"retraining entry point {hook.target!r} failed for round {params['round_number']}: "
            f"{type(exc).__name__}: {exc}; fix it and step the loop again"
        ) from exc
    return {
        "kind": "entry_point",
        "target": hook.target,
        "state": "COMPLETED",
        "seconds": round(time.monotonic() - started, 3),
    }


def _api_url() -> str:
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value() or "the ephemeral Prefect server (PREFECT_API_URL is not set)"


def run_link(flow_run_id: str) -> str | None:
    from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL

    return flow_run_url(PREFECT_UI_URL.value() or PREFECT_API_URL.value(), flow_run_id)


def require_deployment(name: str) -> None:
    """Raise ConfigError unless the Prefect API knows deployment ``name``."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_deployment_by_name(name)
        except ObjectNotFound:
            raise ConfigError(
                f"deployment {name!r} is not on {_api_url()}: deploy the training flow there "
                "('prefect deploy', or flow.deploy(...)) or correct scorer.retrain.name"
            ) from None


def run_deployment_hook(
    hook: DeploymentRetrain,
    params: dict[str, Any],
    previous: dict[str, Any] | None,
    save: Callable[[dict[str, Any]], None],
) -> dict[str, Any]:
    """Start (or, after a stopped step, find again) the deployment's run and wait for it.

    Args:
        hook: the deployment and the wait's timeout.
        params: the run's parameters.
        previous: the run this round recorded before, if any.
        save: records the run in the round's ledger entry (called as soon as it exists).

    Returns:
        The run's record once it completed.

    Raises:
        ConfigError: the deployment is unknown.
        RetrainError: the run ended without completing, no worker started it (it is
            cancelled), or it did not finish within the timeout (the record is kept: the next
            step waits on it).
    """
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    with get_client(sync_client=True) as client:
        current = client.read_flow_run(previous["flow_run_id"]) if previous else None
        if current is None or (current.state.is_final() and not current.state.is_completed()):
            require_deployment(hook.name)
            current = run_deployment(hook.name, parameters=params, timeout=0)
            save(_record(hook, current))
        final = _wait(client, hook, current.id)
    record = _record(hook, final)
    save(record)
    if not final.state.is_completed():
        raise RetrainError(
            f"retraining run {final.name!r} of deployment {hook.name!r} ended "
            f"{final.state.name}: {final.state.message or 'see its logs'} ({record['url']}); "
            "fix the training flow and step the loop again (a new run is started)"
        )
    return record


def _record(hook: DeploymentRetrain, run) -> dict[str, Any]:
    return {
        "kind": "deployment",
        "deployment": hook.name,
        "flow_run_id": str(run.id),
        "flow_run_name": run.name,
        "state": run.state.type.value if run.state else "SCHEDULED",
        "url": run_link(str(run.id)),
    }


def _wait(client, hook: DeploymentRetrain, flow_run_id):
    """The run once final; a RetrainError if no worker starts it or it outlasts the timeout."""
    from prefect.states import Cancelled

    started = time.monotonic()
    start_timeout = min(START_TIMEOUT, hook.timeout_seconds)
    while True:
        current = client.read_flow_run(flow_run_id)
        if current.state.is_final():
            return current
        waited = time.monotonic() - started
        not_started = current.state.is_scheduled() or current.state.is_pending()
        if not_started and waited > start_timeout:
            # as the App's runs: cancelled, so no stale training starts behind the user's back
            client.set_flow_run_state(flow_run_id, Cancelled(message="no worker started it"))
            pool = current.work_pool_name or "its work pool"
            raise RetrainError(
                f"no worker picked up retraining run {current.name!r} of deployment "
                f"{hook.name!r} within {start_timeout:.0f} s, so it was cancelled "
                f"({run_link(str(flow_run_id))}): start a worker on work pool {pool!r} "
                f"('prefect worker start --pool {pool}'); the next step starts a new run"
            )
        if waited > hook.timeout_seconds:
            raise RetrainError(
                f"retraining run {current.name!r} of deployment {hook.name!r} did not finish "
                f"within scorer.retrain.timeout_seconds = {hook.timeout_seconds:g} s (it is "
                f"{current.state.name}, {run_link(str(flow_run_id))}); the next step waits on "
                "the same run: step again, or raise scorer.retrain.timeout_seconds if it needs "
                "longer"
            )
        time.sleep(POLL_SECONDS)
