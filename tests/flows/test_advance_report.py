"""The scheduled advance says, per loop, what it did or why it skipped it: in the run's log and
in a markdown artifact, where a user looking at the run in the Prefect UI finds it."""

from __future__ import annotations

import logging
import time

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterKey,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.client.schemas.sorting import ArtifactSort

from alflow.loop import reports
from alflow.loop.workspace import open_workspace
from flows.advance import REPORT_KEY, advance_flow
from tasks import fit_initial_learner, load_features, register_loop
from tests.helpers import loop_config, unique_name

pytestmark = pytest.mark.usefixtures("prefect_server")


def new_loop(prefix: str) -> str:
    config = loop_config(unique_name(prefix))
    register_loop.fn(config)
    load_features.fn(config.name)
    fit_initial_learner.fn(config.name)
    return config.name


def run_logs(flow_run_id) -> list[str]:
    """The run's log messages on the server (they are sent in the background: wait a little)."""
    with get_client(sync_client=True) as client:
        for _ in range(40):
            logs = client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
            )
            if any("loop " in log.message for log in logs):
                break
            time.sleep(0.25)
    return [log.message for log in logs]


def test_the_advance_reports_each_loop_in_its_log_and_an_artifact(digits, caplog):
    # the session keeps Prefect's loggers at WARNING; a user's runs log INFO
    caplog.set_level(logging.INFO, logger="prefect.flow_runs")
    ready, paused = new_loop("adv-ready"), new_loop("adv-paused")
    open_workspace().ledger.update_loop(paused, status="paused", done_reason=None)

    state = advance_flow([ready, paused], return_state=True)
    report = state.result()
    assert report == {ready: "round 1 taught", paused: "loop is paused"}

    messages = run_logs(state.state_details.flow_run_id)
    assert f"loop {ready!r}: round 1 taught" in messages
    assert f"loop {paused!r}: loop is paused" in messages

    with get_client(sync_client=True) as client:
        (artifact,) = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[REPORT_KEY])),
            sort=ArtifactSort.CREATED_DESC,
            limit=1,
        )
    assert artifact.type == "markdown"
    assert artifact.flow_run_id == state.state_details.flow_run_id
    assert f"| {ready} | round 1 taught |" in artifact.data
    assert f"| {paused} | loop is paused |" in artifact.data


def test_the_report_table_keeps_a_message_with_a_pipe_in_its_cell():
    text = reports.advance_markdown({"a": "failed: x | y\nz"})
    assert "| a | failed: x \\| y z |" in text.splitlines()
    assert "No active loop" in reports.advance_markdown({})


def test_a_loop_whose_readiness_cannot_be_checked_is_reported_and_the_others_advance(digits):
    """E.g. a loop deleted (or its record broken) between the listing and its check."""
    ready = new_loop("adv-after-broken")
    report = advance_flow(["adv-deleted-meanwhile", ready])
    assert report[ready] == "round 1 taught"
    assert report["adv-deleted-meanwhile"].startswith("failed: ")
    assert "no loop named 'adv-deleted-meanwhile'" in report["adv-deleted-meanwhile"]
