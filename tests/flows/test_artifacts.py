"""Every round run publishes Prefect artifacts: summary, learning-curve table and plot.

Read back through the Prefect client, the way the UI reads them: one artifact version per
round under each loop-scoped key, attached to the round's flow run.
"""

from __future__ import annotations

import base64
import json

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.client.schemas.sorting import ArtifactSort

from alflow.config import naming
from alflow.loop.workspace import open_workspace
from alflow.services.environment import state_dir
from flows.loop import create_loop_flow, step_flow
from tests.helpers import loop_config, unique_name

pytestmark = pytest.mark.usefixtures("prefect_server")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def artifacts(key: str) -> list:
    """Every version of the artifact ``key``, oldest first."""
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
            sort=ArtifactSort.CREATED_DESC,
        )
    return list(reversed(found))


def round_run_id(loop: str, number: int) -> str:
    runs = open_workspace().ledger.round(loop, number)["flow_runs"]
    return next(r["id"] for r in runs if r["name"] == naming.round_name(loop, number))


@pytest.fixture(scope="module")
def two_rounds(digits):
    config = loop_config(unique_name("art"))
    create_loop_flow(config)
    step_flow(config.name)
    step_flow(config.name)
    return config.name


def test_round_summary_is_a_markdown_artifact_per_round(two_rounds):
    loop = two_rounds
    versions = artifacts(f"{loop}-round-summary")
    assert [a.type for a in versions] == ["markdown", "markdown"]
    first, second = versions
    doc = open_workspace().ledger.round(loop, 2)
    assert first.data.startswith(f"# {loop} round 1\n")
    assert second.data.startswith(f"# {loop} round 2\n")
    assert "| state | taught |" in second.data
    assert "| queried | 10 |" in second.data and "| labelled so far | 30 |" in second.data
    assert f"| held-out accuracy | {doc['metrics']['accuracy']:.3f} |" in second.data
    assert "CVAT task" not in second.data  # the simulated annotator has no task page
    assert str(second.flow_run_id) == round_run_id(loop, 2)
    assert second.description == f"{naming.round_name(loop, 2)} summary"


def test_learning_curve_table_has_one_row_per_taught_round(two_rounds):
    loop = two_rounds
    versions = artifacts(f"{loop}-learning-curve")
    assert [a.type for a in versions] == ["table", "table"]
    tables = [json.loads(a.data) if isinstance(a.data, str) else a.data for a in versions]
    assert [[row["round"] for row in t] for t in tables] == [[0, 1], [0, 1, 2]]
    ledger = open_workspace().ledger
    assert tables[1] == [
        {
            "round": n,
            "labelled": ledger.round(loop, n)["metrics"]["labelled"],
            # rounded for reading: 0.618, not 0.6183844011142061
            "accuracy": round(ledger.round(loop, n)["metrics"]["accuracy"], 3),
            "macro_f1": round(ledger.round(loop, n)["metrics"]["macro_f1"], 3),
        }
        for n in (0, 1, 2)
    ]
    assert [row["labelled"] for row in tables[1]] == [10, 20, 30]


def test_learning_curve_plot_is_an_inline_png(two_rounds):
    loop = two_rounds
    versions = artifacts(f"{loop}-learning-curve-plot")
    assert [a.type for a in versions] == ["image", "image"]
    latest = versions[-1]
    prefix = "data:image/png;base64,"
    assert latest.data.startswith(prefix)
    png = base64.b64decode(latest.data[len(prefix) :], validate=True)
    assert png.startswith(PNG_MAGIC)
    saved = state_dir() / "reports" / loop / "learning-curve-round-002.png"
    assert saved.read_bytes() == png
    assert latest.description == f"{loop} learning curve after round 2"


def test_no_task_link_without_an_annotation_tool(two_rounds):
    assert artifacts(f"{two_rounds}-cvat-task") == []
