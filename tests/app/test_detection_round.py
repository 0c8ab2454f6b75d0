"""A detection round driven from the App through FiftyOne's operator executor: the create form
takes the task and its settings, the query puts the learner's boxes in the review field, a
reviewer edits boxes there, and the update teaches what the review did."""

from __future__ import annotations

import fiftyone as fo
import pytest

from alflow.config import naming
from alflow.loop.workspace import open_workspace
from tests.app.operators import detection_params, execute, resolve_input
from tests.helpers import unique_name

pytestmark = pytest.mark.usefixtures("prefect_server", "plugin_dir")


def edit(dataset, sid: str, field: str, change) -> None:
    sample = dataset[sid]
    detections = sample[field]
    change(detections)
    sample[field] = detections
    sample.save()


def test_the_create_form_offers_detections_fields_for_a_detection_loop(digit_boxes):
    shown = resolve_input("create_learner", digit_boxes, **detection_params("form-boxes"))
    props = shown.type.properties
    initial = props["initial_labels"].type.properties["field"].view.choices
    assert "initial_boxes" in {c.value for c in initial}
    proposals = props["detection"].type.properties["proposals"].type.properties["field"]
    assert {c.value for c in proposals.view.choices} >= {"proposals", "ground_truth"}


def test_the_create_form_warns_of_missing_boxes_only_for_a_detection_loop(digit_boxes):
    import fiftyone as fo

    plain = fo.Dataset(unique_name("no-boxes"))
    plain.add_samples(
        fo.Sample(
            filepath=f"/nowhere/{i}.png", emb=[float(i), 1.0], seen=fo.Classification(label="a")
        )
        for i in range(6)
    )
    try:
        for task, warned in (("detection", True), ("classification", False)):
            props = props_of(plain, task)
            assert ("no_labels" in props) is warned, task
        assert "No Detections field" in props_of(plain, "detection")["no_labels"].view.label
    finally:
        plain.delete()
    boxes = resolve_input("create_learner", digit_boxes, **detection_params("warn-boxes"))
    assert "no_labels" not in boxes.type.properties


def props_of(dataset, task: str):
    return resolve_input("create_learner", dataset, task=task).type.properties


def test_an_app_detection_round_teaches_the_boxes_a_reviewer_edited(digit_boxes):
    name = unique_name("app-boxes")
    created = execute("create_learner", digit_boxes, **detection_params(name))
    assert "error" not in created.result, created.result
    queried = execute("query_learner", digit_boxes, loop=name)
    assert queried.result["round"]["round"] == 1, queried.result
    told = " ".join(queried.result["lines"])
    assert "Annotate tab" in told and "Tag each wrong prediction" not in told, told
    ws = open_workspace()
    ids = ws.ledger.round(name, 1)["queried_ids"]
    field = naming.review_field(name)
    shown = {sid: digit_boxes[sid][field].detections for sid in ids}
    with_boxes = [sid for sid in ids if shown[sid]]
    assert len(with_boxes) >= 2, "the learner pre-fills the review field with its boxes"
    removed, relabelled = with_boxes[0], with_boxes[1]
    drawn = next(sid for sid in ids if sid not in (removed, relabelled))
    gone = shown[removed][0]
    edit(digit_boxes, removed, field, lambda d: setattr(d, "detections", d.detections[1:]))
    old_label = shown[relabelled][0].label
    new_label = "0" if old_label != "0" else "1"

    def relabel(d):
        d.detections[0].label = new_label

    edit(digit_boxes, relabelled, field, relabel)
    new_box = fo.Detection(label="7", bounding_box=[0.05, 0.05, 0.2, 0.2])
    edit(digit_boxes, drawn, field, lambda d: setattr(d, "detections", [*d.detections, new_box]))

    updated = execute("update_learner_predictions", digit_boxes, loop=name)
    assert updated.result["round"]["state"] == "taught", updated.result
    label = naming.label_field(name)
    removed_label = digit_boxes[removed][label]
    assert [(d["change"], d["predicted"]) for d in removed_label.deleted] == [
        ("deleted", gone.label)
    ]
    changes = {(d.change, d.predicted, d.label) for d in digit_boxes[relabelled][label].detections}
    assert ("relabelled", old_label, new_label) in changes
    drawn_boxes = digit_boxes[drawn][label].detections
    assert ("added", None, "7") in {(d.change, d.predicted, d.label) for d in drawn_boxes}
    assert all(d.source == "app" and d.round == 1 for d in drawn_boxes)
    doc = ws.ledger.round(name, 1)
    assert doc["metrics"]["labelled"] == 25 and "mAP" in doc["metrics"]
