"""App rounds of loops scored by the team's own model (a classifier, a detector), through
FiftyOne's operator executor."""

from __future__ import annotations

import pytest

from alflow.config import naming
from alflow.demo import data as demo_data
from alflow.loop.workspace import open_workspace
from examples import own_model as example
from tests import own_model_hooks as hooks
from tests.app.operators import detection_params, execute, form_params, review
from tests.helpers import unique_name

pytestmark = pytest.mark.usefixtures("prefect_server", "plugin_dir")
FIELD = "own_predictions"
BOXES = "team_boxes"


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


def test_an_app_detection_round_is_pre_filled_with_the_teams_boxes_and_retrains(digit_boxes):
    dataset = digit_boxes.clone(unique_name("own-app-boxes"))
    try:
        hooks.box_detector(dataset.name, "initial_boxes", 0, BOXES)
        loop = unique_name("own-app-boxes")
        params = detection_params(loop)
        params["detection"] = {"measure": "margin", "aggregation": "sum", "nms_iou": 1.0}
        params["scorer"] = {
            "kind": "model_predictions",
            "field": BOXES,
            "classes": hooks.DIGITS,
            "probabilities": "probs",
            "retrain": {"kind": "entry_point", "target": "tests.own_model_hooks:box_detector"},
        }
        created = execute("create_learner", dataset, **params)
        assert created.result["loop"] == loop and "error" not in created.result, created.result
        queried = execute("query_learner", dataset, loop=loop)
        assert queried.result["round"]["round"] == 1, queried.result
        ids = open_workspace().ledger.round(loop, 1)["queried_ids"]
        batch = dataset.select(ids, ordered=True)
        review_field = naming.review_field(loop)
        shown = batch.values(f"{review_field}.detections")
        assert [[(d.label, d.bounding_box) for d in boxes] for boxes in shown] == [
            [(d.label, d.bounding_box) for d in boxes]
            for boxes in batch.values(f"{BOXES}.detections")
        ], "the reviewer sees the team's boxes, not alflow's"
        first = dataset[ids[0]]
        first[review_field].detections = first[review_field].detections[1:]  # one box deleted
        first.save()
        updated = execute("update_learner_predictions", dataset, loop=loop)
        assert updated.result["round"]["state"] == "taught", updated.result
        doc = open_workspace().ledger.round(loop, 1)
        assert doc["retrain"]["state"] == "COMPLETED" and "mAP" in doc["metrics"], doc
        assert set(dataset.values(f"{BOXES}.trained_round")) == {1}
        learned = dataset[ids[0]][naming.label_field(loop)]
        assert [d["change"] for d in learned.deleted] == ["deleted"]
    finally:
        dataset.delete()
