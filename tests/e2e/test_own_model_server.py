"""A loop whose own model is retrained by a Prefect deployment, on a real Prefect server with a
process worker: three rounds, three runs with the right parameters, each query from the
predictions the last run wrote; a failing deployment fails the step in one line, resumably."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from alflow.config import naming
from alflow.demo import data as demo_data
from alflow.errors import RetrainError
from alflow.learning import model_predictions
from alflow.learning.seeds import round_seed
from alflow.loop.workspace import open_workspace
from alflow.rounds import own_model
from examples import own_model as example
from tests.e2e.services import start_prefect_server
from tests.helpers import loop_config

FIELD = "own_predictions"
TRAINING = "own-model-training/digits"
FAILING = "own-model-failing-training/failing"


@pytest.fixture(scope="module")
def training_server(state_home, fo_db, tmp_path_factory):
    """A Prefect server with the process pool and the two training deployments."""
    server = start_prefect_server(
        state_home / "prefect-own-model", tmp_path_factory.mktemp("prefect-own-model")
    )
    try:
        created = server.cli("work-pool", "create", "alflow-process", "--type", "process")
        assert created.returncode == 0, created.stdout + created.stderr
        for entrypoint, name in (
            ("examples/own_model.py:training_flow", "digits"),
            ("tests/e2e/own_model_flows.py:failing_training", "failing"),
        ):
            out = server.cli(
                "--no-prompt", "deploy", entrypoint, "-n", name, "-p", "alflow-process"
            )
            assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        server.start_worker("trainer")
        yield server
    finally:
        server.stop_workers()
        server.stop()


@pytest.fixture
def own_dataset(digits):
    dataset = digits.clone(f"own-{uuid.uuid4().hex[:8]}")
    example.train_and_predict(dataset.name, demo_data.SEED_FIELD, 0, FIELD)
    yield dataset
    dataset.delete()


def own_config(dataset, deployment: str):
    scorer = {
        "kind": "model_predictions",
        "field": FIELD,
        "classes": example.CLASSES,
        "retrain": {"kind": "deployment", "name": deployment, "timeout_seconds": 240},
    }
    return loop_config(f"own-{uuid.uuid4().hex[:8]}", dataset=dataset.name, scorer=scorer)


def expected_batch(ws, config, round_number: int) -> list[str]:
    """The batch the current predictions give, scored here without the round."""
    fm = ws.features(config)
    ids = own_model.pool_ids(ws, config)
    rows = fm.rows(ids)
    pred = model_predictions.read_pool(ws.dataset(config), config.scorer, ids)
    picked, _ = model_predictions.select(
        config.strategy,
        pred,
        fm.X[rows],
        config.batch_size,
        round_seed(config.random_state, round_number),
    )
    return [ids[i] for i in picked]


def training_runs(server, deployment: str):
    with server.client() as client:
        found = client.read_deployment_by_name(deployment)
        from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

        return client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[found.id]))
        )


def test_a_deployment_retrains_the_model_every_round(training_server, own_dataset):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.loop import create_loop_flow, step_flow

    config = own_config(own_dataset, TRAINING)
    ws = open_workspace()
    with temporary_settings(updates={PREFECT_API_URL: training_server.api_url}):
        create_loop_flow(config)
        for number in (1, 2, 3):
            expected = expected_batch(ws, config, number)
            assert step_flow(config.name)["state"] == "taught"
            doc = ws.ledger.round(config.name, number)
            assert doc["queried_ids"] == expected  # the query used the last run's predictions
            assert set(own_dataset.values(f"{FIELD}.trained_round")) == {number}
            assert doc["retrain"]["state"] == "COMPLETED"
            assert doc["retrain"]["url"].endswith(f"/runs/flow-run/{doc['retrain']['flow_run_id']}")
            assert 0 < doc["metrics"]["accuracy"] <= 1
    runs = training_runs(training_server, TRAINING)
    assert sorted(r.parameters["round_number"] for r in runs) == [1, 2, 3]
    assert all(
        r.parameters
        == {
            "dataset": own_dataset.name,
            "label_field": naming.label_field(config.name),
            "round_number": r.parameters["round_number"],
            "predictions_field": FIELD,
        }
        and r.state.is_completed()
        for r in runs
    )


def test_a_failing_deployment_fails_the_step_and_the_loop_resumes(training_server, own_dataset):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.loop import create_loop_flow, step_flow

    config = own_config(own_dataset, FAILING)
    ws = open_workspace()
    with temporary_settings(updates={PREFECT_API_URL: training_server.api_url}):
        create_loop_flow(config)
        with pytest.raises(RetrainError) as failed:
            step_flow(config.name)
        message = str(failed.value)
        assert "\n" not in message and f"of deployment {FAILING!r} ended Failed" in message
        assert "/runs/flow-run/" in message and "step the loop again" in message
        doc = ws.ledger.round(config.name, 1)
        assert doc["state"] == "ingested" and doc["retrain"]["state"] == "FAILED"

        fixed = config.model_copy(
            update={
                "scorer": config.scorer.model_copy(
                    update={"retrain": config.scorer.retrain.model_copy(update={"name": TRAINING})}
                )
            }
        )
        ws.ledger.update_loop(config.name, config=fixed.model_dump(mode="json"))
        resumed = step_flow(config.name)  # round 1 retrained by a new run, round 2 queried
    assert ws.ledger.round(config.name, 1)["state"] == "taught"
    assert resumed["round"] == 2 and np.isfinite(resumed["accuracy"] or 0)
