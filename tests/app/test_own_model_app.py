"""An App round of a loop scored by the team's own model, through FiftyOne's operator executor."""

from __future__ import annotations

import pytest

from alflow.config import naming
from alflow.demo import data as demo_data
from alflow.loop.workspace import open_workspace
from examples import own_model as example
from tests.app.operators import execute, form_params, review
from tests.helpers import unique_name

pytestmark = pytest.mark.usefixtures("prefect_server", "plugin_dir")
FIELD = "own_predictions"


def test_an_app_round_is_scored_and_pre_filled_by_the_teams_model(digits):
    dataset = digits.clone(unique_name("own-app"))
    try:
        example.train_and_predict(dataset.name, demo_data.SEED_FIELD, 0, FIELD)
        loop = unique_name("own-app")
        params = form_params(loop)
        params["scorer"] = {
            "kind": "model_predictions",
            "field": FIELD,
            "classes": example.CLASSES,
            "retrain": {"kind": "entry_point", "target": "examples.own_model:train_and_predict"},
        }
        created = execute("create_learner", dataset, **params)
        assert created.result["loop"] == loop and "error" not in created.result, created.result
        queried = execute("query_learner", dataset, loop=loop)
        assert queried.result["round"]["round"] == 1, queried.result
        ids = open_workspace().ledger.round(loop, 1)["queried_ids"]
        view = dataset.select(ids, ordered=True)
        # the reviewer corrects the team's model's guesses
        review_field = naming.review_field(loop)
        assert view.values(f"{review_field}.label") == view.values(f"{FIELD}.label")
        review(dataset, loop, 1)
        updated = execute("update_learner_predictions", dataset, loop=loop)
        assert updated.result["round"]["state"] == "taught", updated.result
        doc = open_workspace().ledger.round(loop, 1)
        assert doc["retrain"]["state"] == "COMPLETED" and doc["metrics"]["accuracy"] > 0
        assert set(dataset.values(f"{FIELD}.trained_round")) == {1}
    finally:
        dataset.delete()
