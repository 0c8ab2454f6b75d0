"""The scheduled flow: advance every active loop whose annotators are done.

Annotation takes hours or days, so nothing waits for people: this flow runs on a schedule (see
``deployments/prefect.yaml``), looks at every active loop, and starts a step only where one can
make progress (nothing in flight, or the round in flight has finished annotation). One loop's
failure is reported and does not stop the others.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from alflow.workspace import version_string
from flows.loop import step_flow
from tasks import active_loops, loop_ready


@flow(name="alflow-advance", flow_run_name="advance-loops", version=version_string())
def advance_flow(loops: list[str] | None = None) -> dict[str, Any]:
    """Step every ready loop (all active loops, or only ``loops``)."""
    report: dict[str, Any] = {}
    for loop in loops or active_loops():
        ready, why = loop_ready(loop)
        if not ready:
            report[loop] = why
            continue
        state = step_flow(loop, return_state=True)
        if state.is_completed():
            summary = state.result()
            report[loop] = f"round {summary['round']} {summary['state']}"
        else:
            report[loop] = f"failed: {state.message}"
            get_run_logger().error("loop %r: %s", loop, state.message)
    return report
