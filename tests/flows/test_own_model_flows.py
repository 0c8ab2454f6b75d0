"""Rounds driven by a team's own model (scorer 'model_predictions') through the flows: its
predictions score the pool, its entry point or nobody retrains it, stale predictions are refused."""

from __future__ import annotations

import numpy as np
import pytest

from alflow import rounds
from alflow.config import naming
from alflow.config.own_model import EntryPointRetrain
from alflow.demo import data as demo_data
from alflow.errors import ConfigError, DatasetError, LabelError, RetrainError
from alflow.loop.status import loop_status, waiting_for
from alflow.loop.workspace import open_workspace
from alflow.rounds import own_model
from examples import own_model as example
from flows.loop import create_loop_flow, step_flow
from tests import own_model_hooks
from tests.helpers import loop_config, run_cli, unique_name

pytestmark = pytest.mark.usefixtures("prefect_server")
FIELD = "own_predictions"


@pytest.fixture
def own_dataset(digits):
    """A copy of the digits whose predictions field the example model wrote from the seeds."""
    dataset = digits.clone(unique_name("own"))
    example.train_and_predict(dataset.name, demo_data.SEED_FIELD, 0, FIELD)
    yield dataset
    dataset.delete()


def own_config(dataset, retrain: dict | None = None, **overrides):
    scorer = {"kind": "model_predictions", "field": FIELD, "classes": example.CLASSES}
    if retrain:
        scorer["retrain"] = retrain
    return loop_config(dataset=dataset.name, scorer=scorer, **overrides)


def margin_batch(dataset, ids: list[str], n: int) -> list[str]:
    """The ``n`` smallest margins of the field's softmaxed logits, computed here by hand."""
    by_id = dict(zip(dataset.values("id"), dataset.values(f"{FIELD}.logits"), strict=True))
    z = np.asarray([by_id[i] for i in ids], dtype=float)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    top2 = np.sort(p, axis=1)[:, -2:]
    margin = top2[:, 1] - top2[:, 0]
    return [ids[i] for i in np.argsort(margin, kind="stable")[:n]]


def test_an_entry_point_retrains_and_each_query_uses_its_predictions(own_dataset):
    config = own_config(
        own_dataset, {"kind": "entry_point", "target": "examples.own_model:train_and_predict"}
    )
    round_0 = create_loop_flow(config)["round_0"]
    assert round_0["accuracy"] is not None and round_0["labelled"] == 10
    ws = open_workspace()
    for number in (1, 2):
        expected = margin_batch(own_dataset, own_model.pool_ids(ws, config), 10)
        summary = step_flow(config.name)
        doc = ws.ledger.round(config.name, number)
        assert summary["state"] == "taught" and sorted(doc["queried_ids"]) == sorted(expected)
        assert doc["retrain"]["kind"] == "entry_point" and doc["retrain"]["state"] == "COMPLETED"
        assert doc["checkpoint"] is None and 0 < doc["metrics"]["accuracy"] <= 1
        assert doc["metrics"]["labelled"] == 10 + 10 * number
        trained = set(own_dataset.values(f"{FIELD}.trained_round"))
        assert trained == {number}  # the entry point rewrote every sample's prediction
    report = rounds.round_summary(ws, config.name, 2)
    assert report["macro_f1"] is not None


def test_without_a_job_the_loop_waits_until_rewritten_or_declared_ready(own_dataset):
    config = own_config(own_dataset)
    create_loop_flow(config)
    ws = open_workspace()
    first = step_flow(config.name)
    assert first["state"] == "ingested"
    ready, why = rounds.readiness(ws, config.name)
    assert not ready and "round 1 is waiting for new predictions" in why
    assert f"field {FIELD!r} is stale on" in why
    assert step_flow(config.name)["state"] == "ingested"  # still waiting, nothing else moves
    status = waiting_for(loop_status(ws, config.name))
    assert f"round 1 is 'ingested': waiting for new predictions in {FIELD!r}" in status

    example.train_and_predict(own_dataset.name, naming.label_field(config.name), 1, FIELD)
    assert rounds.readiness(ws, config.name)[0]
    released = step_flow(config.name)  # teaches round 1, then queries round 2 from the rewrite
    assert ws.ledger.round(config.name, 1)["retrain"]["state"] == "rewritten"
    assert released["round"] == 2 and released["state"] == "ingested"

    out = run_cli("predictions", "ready", config.name)
    assert out.returncode == 0, out.stderr
    assert "predictions accepted after round 2's ingest" in out.stdout
    third = step_flow(config.name)  # round 2 taught from the vouched-for predictions; round 3
    assert ws.ledger.round(config.name, 2)["retrain"]["state"] == "ready"
    assert third["round"] == 3


def test_stale_predictions_are_refused_and_a_failing_job_leaves_the_round_resumable(own_dataset):
    config = own_config(
        own_dataset, {"kind": "entry_point", "target": "tests.own_model_hooks:out_of_memory"}
    )
    create_loop_flow(config)
    ws = open_workspace()
    with pytest.raises(
        RetrainError,
        match="out_of_memory' failed for round 1: RuntimeError: CUDA out of memory",
    ):
        step_flow(config.name)
    assert own_model_hooks.CALLS[-1] == {
        "dataset": own_dataset.name,
        "label_field": naming.label_field(config.name),
        "round_number": 1,
        "predictions_field": FIELD,
    }
    assert ws.ledger.round(config.name, 1)["state"] == "ingested"

    hook = EntryPointRetrain(target="tests.own_model_hooks:record_only")
    fixed = config.model_copy(update={"scorer": config.scorer.model_copy(update={"retrain": hook})})
    ws.ledger.update_loop(config.name, config=fixed.model_dump(mode="json"))
    with pytest.raises(LabelError) as refused:
        step_flow(config.name)  # round 1 is taught, round 2 finds nothing rewritten
    message = str(refused.value)
    assert "\n" not in message and f"predictions field {FIELD!r} is stale on" in message
    assert "before round 1's labels were ingested" in message
    assert ws.ledger.round(config.name, 1)["state"] == "taught"


def test_bad_predictions_fields_and_deployments_are_refused_at_creation(own_dataset):
    import fiftyone as fo

    own_dataset.set_values("boxes", [fo.Detections(detections=[])] * len(own_dataset))
    with pytest.raises(
        DatasetError, match="predictions field 'boxes' holds Detections, not Classification"
    ):
        scorer = {"kind": "model_predictions", "field": "boxes", "classes": example.CLASSES}
        rounds.register_loop(open_workspace(), loop_config(dataset=own_dataset.name, scorer=scorer))
    deployment = {"kind": "deployment", "name": "own-model-training/nowhere"}
    with pytest.raises(ConfigError, match="deployment 'own-model-training/nowhere' is not on"):
        rounds.register_loop(open_workspace(), own_config(own_dataset, deployment))


def test_the_cli_creates_a_loop_with_the_scorer_and_refuses_a_committee_in_one_line(
    own_dataset, tmp_path
):
    import json

    from typer.testing import CliRunner

    from alflow.cli import app as cli

    config = own_config(own_dataset).model_dump(mode="json")
    path = tmp_path / "loop.json"
    path.write_text(json.dumps({**config, "strategy": {"name": "vote_entropy"}}))
    refused = CliRunner().invoke(cli, ["loop", "create", str(path)])
    message = str(refused.exception)  # the command's one line (commands.run prints it)
    assert isinstance(refused.exception, ConfigError) and "\n" not in message
    assert "strategy 'vote_entropy' needs alflow's own learner" in message
    path.write_text(json.dumps(config))
    created = CliRunner().invoke(cli, ["loop", "create", str(path)])
    assert created.exit_code == 0, created.output
    assert open_workspace().config(config["name"]).scorer.field == FIELD


@pytest.fixture
def idle_deployment():
    """The example training flow deployed on a work pool that no worker polls."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    pool = unique_name("idle-pool")
    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
        flow_id = client.create_flow_from_name("own-model-training")
        client.create_deployment(flow_id=flow_id, name=pool, work_pool_name=pool)
    return pool, f"own-model-training/{pool}"


def test_a_deployment_run_no_worker_picks_up_is_cancelled_and_the_loop_resumes(
    own_dataset, idle_deployment, monkeypatch
):
    from prefect.client.orchestration import get_client

    from alflow.rounds import retraining

    monkeypatch.setattr(retraining, "START_TIMEOUT", 2.0)
    monkeypatch.setattr(retraining, "POLL_SECONDS", 0.2)
    pool, name = idle_deployment
    config = own_config(own_dataset, {"kind": "deployment", "name": name})
    create_loop_flow(config)
    with pytest.raises(RetrainError) as refused:
        step_flow(config.name)
    message = str(refused.value)
    assert "\n" not in message
    assert "no worker picked up retraining run" in message and f"deployment {name!r}" in message
    assert f"'prefect worker start --pool {pool}'" in message and "/runs/flow-run/" in message
    ws = open_workspace()
    doc = ws.ledger.round(config.name, 1)
    assert doc["state"] == "ingested"  # resumable: the next step starts a new run
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(doc["retrain"]["flow_run_id"]).state.is_cancelled()


def test_a_deployment_run_outlasting_the_timeout_stops_the_step_with_how_to_raise_it(
    idle_deployment, monkeypatch
):
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.states import Running

    from alflow.config.own_model import DeploymentRetrain
    from alflow.rounds import retraining

    monkeypatch.setattr(retraining, "POLL_SECONDS", 0.2)
    _, name = idle_deployment
    run = run_deployment(name, parameters={}, timeout=0)
    with get_client(sync_client=True) as client:  # a worker took it and trains on
        client.set_flow_run_state(run.id, Running(), force=True)
    hook = DeploymentRetrain(name=name, timeout_seconds=1)
    saved: list[dict] = []
    with pytest.raises(RetrainError) as refused:
        retraining.run_deployment_hook(hook, {}, {"flow_run_id": str(run.id)}, saved.append)
    message = str(refused.value)
    assert "\n" not in message and f"of deployment {name!r} did not finish" in message
    assert "within scorer.retrain.timeout_seconds = 1 s (it is Running" in message
    assert "raise scorer.retrain.timeout_seconds" in message and not saved  # same run kept
