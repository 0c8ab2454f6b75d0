"""The scheduled flow: advance every active loop whose annotators are done.

Annotation takes hours or days, so nothing waits for people: this flow runs on a schedule (see
``deployments/prefect.yaml``), looks at every active loop, and starts a step only where one can
make progress (nothing in flight, or the round in flight has finished annotation). One loop's
failure is reported and does not stop the others. What it did or why it skipped each loop goes
to the run's log (a line per loop) and to the markdown artifact ``alflow-advance-report``, where
a user looking at the run in the UI finds it.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from alflow.loop import reports
from alflow.loop.workspace import version_string
from flows.loop import step_flow
from tasks import active_loops, loop_ready

REPORT_KEY = "alflow-advance-report"


@flow(name="alflow-advance", flow_run_name="advance-loops", version=version_string())
def advance_flow(loops: list[str] | None = None) -> dict[str, Any]:
    """Step every ready loop (all active loops, or only ``loops``)."""
    log = get_run_logger()
    report: dict[str, Any] = {}
    for loop in loops or active_loops():
        checked = loop_ready(loop, return_state=True)
        if not checked.is_completed():  # e.g. a loop whose dataset was deleted
            report[loop] = f"failed: {checked.message}"
            log.error("loop %r: %s", loop, checked.message)
            continue
        ready, why = checked.result()
        if not ready:
            report[loop] = why
            log.info("loop %r: %s", loop, report[loop])
            continue
        state = step_flow(loop, return_state=True)
        if state.is_completed():
            summary = state.result()
            report[loop] = f"round {summary['round']} {summary['state']}"
            log.info("loop %r: %s", loop, report[loop])
        else:
            report[loop] = f"failed: {state.message}"
            log.error("loop %r: %s", loop, state.message)
    create_markdown_artifact(
        reports.advance_markdown(report),
        key=REPORT_KEY,
        description=f"advance: {len(report)} loop(s)",
    )
    return report
