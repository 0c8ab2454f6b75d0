"""Prefect artifacts of a round: summary, learning-curve table and plot, CVAT task link."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.artifacts import (
    create_image_artifact,
    create_link_artifact,
    create_markdown_artifact,
    create_table_artifact,
)
from prefect.cache_policies import NO_CACHE

from alflow.config import naming
from alflow.loop import reports
from alflow.loop.workspace import open_workspace


@task(name="publish-round-artifacts", cache_policy=NO_CACHE)
def publish_round_artifacts(loop: str, round_number: int) -> dict[str, Any]:
    """Publish the round's artifacts; keys are per loop, so the UI shows one version per round."""
    report = reports.round_report(open_workspace().ledger, loop, round_number)
    create_markdown_artifact(
        report.markdown,
        key=naming.artifact_key(loop, "round-summary"),
        description=f"{naming.round_name(loop, round_number)} summary",
    )
    create_table_artifact(
        reports.curve_table(report.curve_rows),
        key=naming.artifact_key(loop, "learning-curve"),
        description=f"{loop}: one row per taught round",
    )
    create_image_artifact(
        reports.data_url(report.plot_png),
        key=naming.artifact_key(loop, "learning-curve-plot"),
        description=f"{loop} learning curve after round {round_number}",
    )
    if report.task_url:
        create_link_artifact(
            report.task_url,
            link_text=naming.round_name(loop, round_number),
            key=naming.artifact_key(loop, "cvat-task"),
        )
    return {
        "rows": len(report.curve_rows),
        "plot": str(report.plot_path),
        "task_url": report.task_url,
    }
