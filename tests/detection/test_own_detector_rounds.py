"""Detection rounds scored by a team's own detector (scorer 'model_predictions' on a Detections
field) through the real flows: each query ranks the images by the boxes the team's entry point
wrote last (hand-computed here), the batch is pre-filled with them, the team's boxes are
evaluated by FiftyOne's mAP, and bad fields are refused in one line."""

from __future__ import annotations

import numpy as np
import pytest

from alflow.config import naming
from alflow.config.loop import LoopConfig
from alflow.errors import DatasetError, LabelError
from alflow.loop.workspace import open_workspace
from alflow.rounds import own_model
from flows.loop import create_loop_flow, step_flow
from tests import own_model_hooks as hooks
from tests.helpers import unique_name

pytestmark = pytest.mark.usefixtures("prefect_server")
FIELD = "team_boxes"
DETECTOR = "tests.own_model_hooks:box_detector"


@pytest.fixture
def own_boxes(digit_boxes):
    """A copy of the digit canvases whose predictions field the team's detector wrote once."""
    dataset = digit_boxes.clone(unique_name("own-boxes"))
    hooks.box_detector(dataset.name, "initial_boxes", 0, FIELD)
    yield dataset
    dataset.delete()


def own_detector_config(boxes_config, dataset, detection: dict, retrain=None, **scorer):
    scorer = {"kind": "model_predictions", "field": FIELD, "classes": hooks.DIGITS, **scorer}
    if retrain:
        scorer["retrain"] = {"kind": "entry_point", "target": retrain}
    # nms_iou 1: no two of the team's boxes are one object, so the order below needs no NMS
    detection = {"nms_iou": 1.0, **detection}
    strategy = detection.get("measure", "margin")
    return over(
        boxes_config, dataset, detection=detection, scorer=scorer, strategy={"name": strategy}
    )


def over(boxes_config, dataset, **overrides) -> LoopConfig:
    """The detection fixtures' configuration on ``dataset``, its detection settings replaced
    (a team's detector needs no proposals)."""
    data = boxes_config().model_dump(mode="json", exclude_unset=True)
    return LoopConfig.model_validate({**data, "dataset": dataset.name, **overrides})


def expected_batch(dataset, ids: list[str], box_score, aggregate, n: int) -> list[str]:
    """The ``n`` images of ``ids`` whose boxes in FIELD score highest, computed by hand."""
    by_id = dict(zip(dataset.values("id"), dataset.values(f"{FIELD}.detections"), strict=True))
    scores = [aggregate([box_score(d) for d in by_id[sid]] or [0.0]) for sid in ids]
    return [ids[i] for i in np.argsort(-np.asarray(scores), kind="stable")[:n]]


def one_minus_confidence(d) -> float:
    return 1.0 - d.confidence


def margin(d) -> float:
    top2 = np.sort(d.probs)[-2:]
    return 1.0 - (top2[1] - top2[0])


def test_each_query_ranks_by_the_boxes_the_teams_detector_wrote_after_the_last_round(
    own_boxes, boxes_config
):
    config = own_detector_config(
        boxes_config,
        own_boxes,
        {"measure": "least_confident", "aggregation": "max"},
        retrain=DETECTOR,
        probabilities=None,
    )
    round_0 = create_loop_flow(config)["round_0"]
    assert round_0["labelled"] == 20 and round_0["mAP"] == pytest.approx(1.0)
    ws = open_workspace()
    for number in (1, 2, 3):
        pool = own_model.pool_ids(ws, config)
        expected = expected_batch(own_boxes, pool, one_minus_confidence, max, 10)
        summary = step_flow(config.name)
        doc = ws.ledger.round(config.name, number)
        assert summary["state"] == "taught" and doc["queried_ids"] == expected
        assert doc["retrain"]["kind"] == "entry_point" and doc["checkpoint"] is None
        assert hooks.CALLS[-1]["round_number"] == number
        assert set(own_boxes.values(f"{FIELD}.trained_round")) == {number}
        # pre-filled with the team's boxes (its ground-truth boxes here): every one kept
        counts = doc["ingest"]["boxes"]
        assert counts["boxes"] > 0 and counts["kept"] == counts["boxes"]
        assert counts["deleted"] == 0
        assert doc["metrics"]["labelled"] == 20 + 10 * number
        assert doc["metrics"]["mAP"] == pytest.approx(1.0) and "mAP50" in doc["metrics"]
    assert own_boxes.values(f"{naming.label_field(config.name)}.detections")  # boxes learned


def test_per_box_probabilities_give_the_margin_order_and_the_loop_waits_without_a_job(
    own_boxes, boxes_config
):
    config = own_detector_config(
        boxes_config, own_boxes, {"measure": "margin", "aggregation": "sum"}, probabilities="probs"
    )
    create_loop_flow(config)
    ws = open_workspace()
    expected = expected_batch(own_boxes, own_model.pool_ids(ws, config), margin, sum, 10)
    first = step_flow(config.name)
    assert ws.ledger.round(config.name, 1)["queried_ids"] == expected
    assert first["state"] == "ingested"  # no job: waiting for the team's new boxes
    assert "waiting for new predictions" in own_model.waiting_for_predictions(
        ws, ws.ledger.round(config.name, 1)
    )
    hooks.box_detector(own_boxes.name, naming.label_field(config.name), 1, FIELD)
    pool = own_model.pool_ids(ws, config)
    expected = expected_batch(own_boxes, pool, margin, sum, 10)
    second = step_flow(config.name)  # round 1 taught from the rewrite, round 2 queried from it
    assert ws.ledger.round(config.name, 1)["retrain"]["state"] == "rewritten"
    assert second["round"] == 2 and ws.ledger.round(config.name, 2)["queried_ids"] == expected


def test_a_classification_field_where_detections_are_expected_is_refused(own_boxes, boxes_config):
    import fiftyone as fo

    own_boxes.set_values("a_classifier", [fo.Classification(label="3")] * len(own_boxes))
    config = over(
        boxes_config,
        own_boxes,
        detection={"measure": "least_confident"},
        strategy={"name": "least_confident"},
        scorer={"kind": "model_predictions", "field": "a_classifier", "classes": hooks.DIGITS},
    )
    with pytest.raises(DatasetError, match="'a_classifier' holds Classification, not Detections"):
        create_loop_flow(config)


def test_a_box_without_confidence_stops_the_query_naming_its_sample(own_boxes, boxes_config):
    config = own_detector_config(
        boxes_config, own_boxes, {"measure": "least_confident"}, probabilities=None
    )
    create_loop_flow(config)
    ws = open_workspace()
    victim = own_model.pool_ids(ws, config)[0]
    sample = own_boxes[victim]
    sample[FIELD].detections[0].confidence = None
    sample.save()
    with pytest.raises(LabelError, match=f"sample {victim} has a prediction without a confidence"):
        step_flow(config.name)
    assert ws.ledger.get_round(config.name, 1) is None  # nothing queried: fix and step again
