"""The round as Prefect flows, under one session-scoped Prefect test server."""

import os
import subprocess
import sys

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

from alflow.config import naming
from alflow.errors import RoundInFlightError
from alflow.learning import learners
from alflow.loop.workspace import open_workspace, version_string
from flows.loop import create_loop_flow, step_flow
from flows.round import round_flow
from tests.helpers import loop_config

pytestmark = pytest.mark.usefixtures("prefect_server")


def flow_run(name: str):
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name]))
        )
    assert len(runs) >= 1, f"no flow run named {name}"
    return runs[-1]


@pytest.fixture
def two_round_loop(digits):
    config = loop_config()
    create_loop_flow(config)
    first = step_flow(config.name)
    second = step_flow(config.name)
    return config, first, second


def test_two_rounds_are_versioned_named_tagged_flow_runs(two_round_loop):
    config, first, second = two_round_loop
    assert (first["round"], first["state"], first["labelled"]) == (1, "taught", 20)
    assert (second["round"], second["state"], second["labelled"]) == (2, "taught", 30)
    run = flow_run(naming.round_name(config.name, 2))
    assert run.state.is_completed()
    assert {f"loop:{config.name}", "round:2"} <= set(run.tags)
    assert run.parameters["loop"] == config.name and run.parameters["round_number"] == 2
    with get_client(sync_client=True) as client:
        assert client.read_flow(run.flow_id).name == "alflow-round"
    assert run.flow_version == version_string()
    doc = open_workspace().ledger.round(config.name, 2)
    assert str(run.id) in {r["id"] for r in doc["flow_runs"]}
    assert doc["strategy"] == "margin" and doc["batch_size"] == 10
    assert len(doc["queried_ids"]) == 10 and doc["backend"]["kind"] == "oracle"
    assert [h["state"] for h in doc["history"]] == ["queried", "exported", "ingested", "taught"]


def test_rerunning_a_completed_round_changes_nothing(two_round_loop):
    config, _, _ = two_round_loop
    ws = open_workspace()
    before = ws.ledger.round(config.name, 2)
    state_before = learners.load_checkpoint(before["checkpoint"]["path"])
    again = round_flow(config.name, 2)
    after = ws.ledger.round(config.name, 2)
    assert again["state"] == "taught" and again["labelled"] == 30
    assert {k: v for k, v in after.items() if k != "flow_runs"} == {
        k: v for k, v in before.items() if k != "flow_runs"
    }
    assert len(ws.ledger.rounds(config.name)) == 3
    state_after = learners.load_checkpoint(after["checkpoint"]["path"])
    assert state_after.training_ids == state_before.training_ids
    assert len(state_after.learner.X_training) == 30


def test_a_second_process_continues_from_ledger_and_checkpoint(two_round_loop):
    config, _, _ = two_round_loop
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    out = subprocess.run(
        [sys.executable, "-m", "alflow.cli", "step", config.name],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    doc = open_workspace().ledger.round(config.name, 3)
    assert doc["state"] == "taught" and doc["base_round"] == 2
    taught = learners.load_checkpoint(doc["checkpoint"]["path"])
    assert len(taught.training_ids) == len(set(taught.training_ids)) == 40


def test_two_loops_on_one_dataset_do_not_touch_each_other(digits):
    a, b = loop_config(), loop_config(random_state=5)
    create_loop_flow(a)
    create_loop_flow(b)
    # an oracle loop writes no review or round field (only the in-App review does)
    b_fields = [
        f for f in naming.loop_fields(b.name) if f not in naming.review_surface_fields(b.name)
    ]
    before = {f: digits.values(f) for f in b_fields}
    step_flow(a.name)
    step_flow(a.name)
    assert {f: digits.values(f) for f in b_fields} == before
    ws = open_workspace()
    assert [d["round"] for d in ws.ledger.rounds(b.name)] == [0]
    written = {f for f in digits.get_field_schema() if f.startswith(naming.FIELD_PREFIX)}
    # the simulated annotator needs no review surface: label, prediction and split are written
    assert set(naming.loop_fields(a.name)) - set(naming.review_surface_fields(a.name)) <= written


def test_a_second_trigger_while_a_round_is_in_flight_is_refused(digits):
    config = loop_config()
    create_loop_flow(config)
    open_workspace().ledger.acquire(config.name, "another-run", 60)
    with pytest.raises(RoundInFlightError, match="busy.*another-run"):
        step_flow(config.name)
