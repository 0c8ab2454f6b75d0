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

from alflow import naming, reports
from alflow.settings import state_dir
from alflow.workspace import open_workspace


@task(name="publish-round-artifacts", cache_policy=NO_CACHE)
def publish_round_artifacts(loop: str, round_number: int) -> dict[str, Any]:
    """Publish the round's artifacts; keys are per loop, so the UI shows one version per round."""
    ledger = open_workspace().ledger
    doc = ledger.round(loop, round_number)
    ref = (doc.get("backend") or {}).get("ref") or {}
    task_url = reports.task_url(ref)
    create_markdown_artifact(
        reports.round_markdown(doc, task_url),
        key=naming.artifact_key(loop, "round-summary"),
        description=f"{naming.round_name(loop, round_number)} summary",
    )
    rows = reports.curve_rows(ledger.rounds(loop))
    create_table_artifact(
        reports.curve_table(rows),
        key=naming.artifact_key(loop, "learning-curve"),
        description=f"{loop}: one row per taught round",
    )
    png = reports.curve_png(rows, f"{loop} learning curve")
    path = state_dir() / "reports" / loop / f"learning-curve-round-{round_number:03d}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    create_image_artifact(
        reports.data_url(png),
        key=naming.artifact_key(loop, "learning-curve-plot"),
        description=f"{loop} learning curve after round {round_number}",
    )
    if task_url:
        create_link_artifact(
            task_url,
            link_text=naming.round_name(loop, round_number),
            key=naming.artifact_key(loop, "cvat-task"),
        )
    return {"rows": len(rows), "plot": str(path), "task_url": task_url}
