"""SIGKILL of a real step mid-round, then the next step or `alflow unlock`: the Prefect API shows
no run of that loop as running, and each run the kill left says why it crashed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from alflow.config import naming
from alflow.loop.workspace import open_workspace
from flows.loop import create_loop_flow, step_flow
from tests.helpers import loop_config, unique_name

pytestmark = pytest.mark.usefixtures("prefect_server")

# killed inside the round's ingest-labels task: the step run, the round run, the step's task
# run for the round subflow and the ingest task run are all left running
KILLED_MID_ROUND = """
import os, signal, sys
import alflow
from alflow.state.ledger import INGESTED, Ledger

original = Ledger.set_state

def set_state(self, loop, number, new, **fields):
    original(self, loop, number, new, **fields)
    if new == INGESTED:
        os.kill(os.getpid(), signal.SIGKILL)

Ledger.set_state = set_state
from flows.loop import step_flow
step_flow(sys.argv[1])
"""
UNFINISHED = {"PENDING", "RUNNING", "CANCELLING"}


def killed_mid_round(prefix: str) -> tuple[str, dict]:
    """A new loop whose first step was SIGKILLed mid-round; its name and the dead step's lock."""
    from prefect.settings import PREFECT_API_URL

    config = loop_config(unique_name(prefix))
    create_loop_flow(config)
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    process = subprocess.run(
        [sys.executable, "-c", KILLED_MID_ROUND, config.name], env=env, timeout=600
    )
    assert process.returncode == -signal.SIGKILL
    lock = open_workspace().ledger.loop(config.name)["lock"]
    assert lock and lock["pid"] != os.getpid()  # the dead step still holds the loop
    return config.name, lock


def runs_of(loop: str) -> tuple[list, list]:
    """Every flow run of ``loop`` (its steps, its round runs) and their task runs."""
    from prefect import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterName,
        TaskRunFilter,
        TaskRunFilterFlowRunId,
    )

    with get_client(sync_client=True) as client:
        named = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(like_=loop))
        )
        flows = [
            r for r in named if r.name == f"{loop}-step" or r.name.startswith(f"{loop}-round-")
        ]
        tasks = client.read_task_runs(
            task_run_filter=TaskRunFilter(
                flow_run_id=TaskRunFilterFlowRunId(any_=[r.id for r in flows])
            )
        )
    return flows, tasks


def assert_none_running_and_each_crash_says_why(loop: str, lock: dict, by: str) -> list:
    flows, tasks = runs_of(loop)
    runs = [*flows, *tasks]
    assert [(r.name, r.state.name) for r in runs if r.state.type.value in UNFINISHED] == []
    crashed = [r for r in runs if r.state.type.value == "CRASHED"]
    names = {r.name.rsplit("-", 1)[0] if r in tasks else r.name for r in crashed}
    assert {f"{loop}-step", naming.round_name(loop, 1), "ingest-labels"} <= names, names
    for run in crashed:
        why = run.state.message
        assert f"the step holding loop {loop!r} died (pid {lock['pid']}" in why, (run.name, why)
        assert by in why
    return crashed


def test_the_next_step_marks_every_run_of_the_killed_step_crashed_and_links_them(digits):
    loop, lock = killed_mid_round("runs-step")
    summary = step_flow(loop)  # takes the dead step's lock over, teaches round 1, queries 2
    assert summary["round"] == 2
    crashed = assert_none_running_and_each_crash_says_why(loop, lock, "took the loop over")
    round_run = next(r for r in crashed if r.name == naming.round_name(loop, 1))

    noted = open_workspace().ledger.round(loop, 1)["crashed_runs"]
    assert [n["id"] for n in noted] == [str(round_run.id)]
    assert noted[0]["url"].endswith(f"/runs/flow-run/{round_run.id}")
    # the resumed round's run links the crashed one in its summary artifact
    from tests.flows.test_artifacts import artifacts

    resumed = artifacts(naming.artifact_key(loop, "round-summary"))
    round_1 = [a.data for a in resumed if a.data.startswith(f"# {loop} round 1\n")]
    assert round_1 and f"[{round_run.name}]({noted[0]['url']})" in round_1[-1]


def test_alflow_unlock_alone_marks_every_run_of_the_killed_step_crashed(digits):
    from typer.testing import CliRunner

    from alflow.cli import app as cli

    loop, lock = killed_mid_round("runs-unlock")
    out = CliRunner().invoke(cli, ["unlock", loop])
    assert out.exit_code == 0, out.output
    assert "freed the lock" in out.output and "marked Crashed" in out.output
    assert_none_running_and_each_crash_says_why(loop, lock, "'alflow unlock' freed its lock")
    noted = open_workspace().ledger.round(loop, 1)["crashed_runs"]
    assert [n["name"] for n in noted] == [naming.round_name(loop, 1)]
