"""Serve alflow's deployments from one process, for users who want no work pool or worker.

    .venv/bin/alflow serve        # or: python deployments/serve.py

The same deployments as ``prefect.yaml`` (create-loop, step, advance on a schedule), run in this
process; stop it with Ctrl-C. A round's state lives in the ledger, so stopping and restarting
the process loses nothing.
"""

from __future__ import annotations

import alflow  # noqa: F401  (state directory before Prefect is imported)
from flows.advance import advance_flow
from flows.loop import create_loop_flow, step_flow

ADVANCE_CRON = "*/10 * * * *"


def deployments():
    """The served deployments."""
    return [
        create_loop_flow.to_deployment(name="create-loop", tags=["alflow"]),
        step_flow.to_deployment(name="step", tags=["alflow"]),
        advance_flow.to_deployment(name="advance", cron=ADVANCE_CRON, tags=["alflow", "scheduled"]),
    ]


def main() -> None:
    from prefect import serve

    serve(*deployments())


if __name__ == "__main__":
    main()
