"""Detection rounds through the real flows with the simulated annotator: boxes queried,
answered with provenance per box, learned, written back and measured by FiftyOne's mAP."""

from __future__ import annotations

import pytest

from alflow.config import naming
from alflow.loop.workspace import open_workspace
from flows.loop import create_loop_flow, step_flow

pytestmark = pytest.mark.usefixtures("prefect_server")


@pytest.fixture(scope="module")
def three_rounds(boxes_config, prefect_server):
    config = boxes_config()
    created = create_loop_flow(config)
    steps = [step_flow(config.name) for _ in range(3)]
    return config, created, steps


def test_each_round_labels_ten_new_images_and_records_boxes_and_map(three_rounds, digit_boxes):
    config, created, steps = three_rounds
    assert created["round_0"]["labelled"] == 20
    assert [s["labelled"] for s in steps] == [30, 40, 50]
    ledger = open_workspace().ledger
    docs = [ledger.round(config.name, n) for n in (0, 1, 2, 3)]
    seen = set()
    held_out = set(digit_boxes.match({naming.split_field(config.name): "eval"}).values("id"))
    initial = set(digit_boxes.exists("initial_boxes").values("id"))
    for doc in docs[1:]:
        batch = set(doc["queried_ids"])
        assert len(batch) == 10 and not batch & seen and not batch & held_out
        assert not batch & initial
        seen |= batch
        truth = digit_boxes.select(doc["queried_ids"]).values("ground_truth.detections")
        assert doc["ingest"]["boxes"]["boxes"] == sum(len(t) for t in truth)
        assert doc["metrics"]["labelled_boxes"] > 0 and "mAP50" in doc["metrics"]
    maps = [doc["metrics"]["mAP"] for doc in docs]
    assert all(0.0 <= m <= 1.0 for m in maps)
    assert maps[-1] > maps[0], maps


def test_answered_boxes_carry_their_round_source_and_what_the_annotator_did(
    three_rounds, digit_boxes
):
    config, _, _ = three_rounds
    doc = open_workspace().ledger.round(config.name, 2)
    sample = digit_boxes[doc["queried_ids"][0]]
    label = sample[naming.label_field(config.name)]
    truth = sample["ground_truth"]
    assert label.round == 2 and label.source == "oracle" and not label.excluded
    assert sorted(d.label for d in label.detections) == sorted(d.label for d in truth.detections)
    for box in label.detections:
        assert box.source == "oracle" and box.round == 2
        assert box.change in {"kept", "moved", "relabelled", "added"}
    counts = doc["ingest"]["boxes"]
    assert counts["boxes"] == sum(counts[c] for c in ("kept", "moved", "relabelled", "added"))


def test_the_learners_objects_are_written_back_as_detections_with_confidences(
    three_rounds, digit_boxes
):
    config, _, _ = three_rounds
    field = naming.prediction_field(config.name)
    predicted = digit_boxes.values(f"{field}.detections")
    assert len(predicted) == len(digit_boxes) and all(p is not None for p in predicted)
    boxes = [d for image in predicted for d in image]
    assert boxes and all(0.0 < d.confidence <= 1.0 for d in boxes)
    assert {d.label for d in boxes} <= {str(i) for i in range(10)}


def test_a_rollback_refits_the_box_learner_on_earlier_labels_and_reinclude_brings_them_back(
    boxes_config, digit_boxes
):
    from alflow import rounds
    from alflow.data import detections as dets

    config = boxes_config()
    create_loop_flow(config)
    first, second = step_flow(config.name), step_flow(config.name)
    assert (first["labelled"], second["labelled"]) == (30, 40)
    ws = open_workspace()
    field = naming.label_field(config.name)
    back = rounds.rollback(ws, config.name, 1)
    assert back["excluded"] == 10
    doc = ws.ledger.round(config.name, back["round"])
    assert doc["metrics"]["labelled"] == 30 and "mAP" in doc["metrics"]
    assert len(dets.read_boxes(digit_boxes, field)) == 30
    assert len(dets.read_boxes(digit_boxes, field, include_excluded=True)) == 40
    again = rounds.reinclude(ws, config.name, [2])
    assert ws.ledger.round(config.name, again["round"])["metrics"]["labelled"] == 40
    assert len(dets.read_boxes(digit_boxes, field)) == 40
