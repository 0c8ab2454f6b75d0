"""Serve alflow's deployments from one process, for users who want no work pool or worker.

    .venv/bin/alflow serve        # or: python deployments/serve.py

The same four deployments as ``prefect.yaml`` (create-loop, step, advance on a schedule,
simulate), run in this process; stop it with Ctrl-C. A round's state lives in the ledger, so
stopping and restarting the process loses nothing.

Serve *or* deploy to the work pool, not both: serving a name that ``alflow deploy`` put on a
work pool keeps the pool in the server's record, and its runs then crash loading the flow, so
:func:`main` refuses to start while such deployments exist.
"""

from __future__ import annotations

from alflow.services import configured  # noqa: F401  (before Prefect and FiftyOne)

# isort: split

from alflow.errors import AlflowError
from flows.advance import advance_flow
from flows.loop import create_loop_flow, step_flow
from flows.simulate import simulate_flow

ADVANCE_CRON = "*/10 * * * *"


def deployments():
    """The served deployments."""
    return [
        create_loop_flow.to_deployment(name="create-loop", tags=["alflow"]),
        step_flow.to_deployment(name="step", tags=["alflow"]),
        advance_flow.to_deployment(name="advance", cron=ADVANCE_CRON, tags=["alflow", "scheduled"]),
        simulate_flow.to_deployment(name="simulate", tags=["alflow", "benchmark"]),
    ]


def on_work_pools(names: list[str]) -> dict[str, str]:
    """Those of the ``flow/deployment`` names the server has on a work pool, with the pool."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    found = {}
    with get_client(sync_client=True) as client:
        for name in names:
            try:
                deployment = client.read_deployment_by_name(name)
            except ObjectNotFound:
                continue
            if deployment.work_pool_name:
                found[name] = deployment.work_pool_name
    return found


def main() -> None:
    from prefect import serve

    served = deployments()
    clash = on_work_pools([f"{d.flow_name}/{d.name}" for d in served])
    if clash:
        listed = ", ".join(f"{name} (work pool {pool!r})" for name, pool in clash.items())
        raise AlflowError(
            f"{listed} already run on a worker ('alflow deploy'); serving the same names from "
            "this process would leave their runs crashing. Start a worker instead "
            "('prefect worker start --pool alflow-process'), or delete them first: "
            + "; ".join(f"prefect deployment delete {name}" for name in clash)
        )
    serve(*served)


if __name__ == "__main__":
    main()
