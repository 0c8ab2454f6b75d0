"""`alflow step` prints a row for every round it worked on: a step that teaches the round that
waited in CVAT (the stand-in) and opens the next one prints both, in that order."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from alflow.cli import app
from alflow.loop.workspace import open_workspace

pytestmark = pytest.mark.usefixtures("prefect_server")

runner = CliRunner()


def rows(output: str) -> list[dict[str, str]]:
    lines = [line for line in output.splitlines() if line.strip()]
    header = next(i for i, line in enumerate(lines) if line.split()[0] == "round")
    keys = lines[header].split()
    return [dict(zip(keys, line.split(), strict=True)) for line in lines[header + 1 :]]


def step(loop: str) -> list[tuple[str, str]]:
    result = runner.invoke(app, ["step", loop])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return [(row["round"], row["state"]) for row in rows(result.output)]


def test_a_step_that_teaches_and_opens_prints_both_rounds(cvat_loop, annotator):
    loop = cvat_loop(flow=False).name
    assert step(loop) == [("1", "waiting")]  # opens round 1 only
    assert step(loop) == [("1", "waiting")]  # nothing finished: round 1 still waits
    ws = open_workspace()
    annotator.complete(ws.ledger.round(loop, 1)["backend"]["ref"]["task_id"])
    # teaches round 1, then queries and exports round 2: both rows
    assert step(loop) == [("1", "taught"), ("2", "waiting")]
    assert [d["state"] for d in ws.ledger.rounds(loop)] == ["taught", "taught", "waiting"]
