"""A detection round in CVAT end to end: real flows, the real FiftyOne database, the CVAT
stand-in. The learner's boxes reach CVAT as pre-filled pixel rectangles; a person moves one,
relabels one, deletes one and draws one; the next step ingests them with their provenance. An
image-level tag on another frame sends that image back to the pool with its reason."""

from __future__ import annotations

import pytest

from alflow.boxes.geometry import to_pixels
from alflow.config import naming
from alflow.loop.workspace import open_workspace
from flows.loop import create_loop_flow, step_flow
from tests.helpers import CVAT_FAST

pytestmark = pytest.mark.usefixtures("prefect_server")


def rounded(points) -> tuple[float, ...]:
    return tuple(round(float(v), 4) for v in points)


def test_a_cvat_detection_round_prefills_rectangles_and_ingests_every_kind_of_correction(
    boxes_config, digit_boxes, cvat_server, cvat_env, annotator
):
    backend = {"kind": "cvat", "url": cvat_server.url, "segment_size": 5, **CVAT_FAST}
    config = boxes_config(backend=backend, batch_size=5)
    create_loop_flow(config)
    opened = step_flow(config.name)
    assert (opened["round"], opened["state"]) == (1, "waiting")
    ws = open_workspace()
    ref = ws.ledger.round(config.name, 1)["backend"]["ref"]
    task_id, frames = ref["task_id"], ref["frames"]
    shapes = annotator.shapes(task_id)
    predicted = digit_boxes.select(frames, ordered=True).values(
        f"{naming.prediction_field(config.name)}.detections"
    )
    # every pre-filled rectangle is a predicted object above min_score, in pixel corners
    expected = sorted(
        (frame, d.label, rounded(to_pixels(d.bounding_box, 64, 64)))
        for frame, image in enumerate(predicted)
        for d in image
        if d.confidence >= config.detection.min_score
    )
    assert expected and sorted((s[1], s[2], rounded(s[4])) for s in shapes) == expected
    assert {s[3] for s in shapes} == {"rectangle"} and {s[5] for s in shapes} == {"auto"}

    on_first = [s for s in shapes if s[1] == shapes[0][1]]
    frame = shapes[0][1]
    moved, relabelled = on_first[0], (on_first[1] if len(on_first) > 1 else None)
    x1, y1, x2, y2 = moved[4]
    annotator.edit_shape(task_id, moved[0], points=[x1 + 4, y1 + 2, x2 + 4, y2 + 2])
    other = [s for s in shapes if s[1] != frame]
    deleted = other[0]
    annotator.erase(task_id, deleted[0])
    if relabelled is not None:
        new_label = "0" if relabelled[2] != "0" else "1"
        annotator.edit_shape(task_id, relabelled[0], label=new_label)
    annotator.draw(task_id, frame, "7", [1.0, 1.0, 9.0, 9.0])
    tagged = next(f for f in range(len(frames)) if f not in (frame, deleted[1]))
    annotator.add_tag(task_id, tagged, "7")  # a class for the whole image: not boxes
    annotator.complete(task_id)

    taught = step_flow(config.name, options=None)
    doc = ws.ledger.round(config.name, 1)
    assert doc["state"] == "taught" and taught["round"] == 2
    sample = digit_boxes[frames[frame]]
    label = sample[naming.label_field(config.name)]
    changes = {(d.change, d.predicted, d.label) for d in label.detections}
    assert ("moved", moved[2], moved[2]) in changes
    assert ("added", None, "7") in changes
    if relabelled is not None:
        assert ("relabelled", relabelled[2], new_label) in changes
    assert all(d.source == "cvat" and d.round == 1 for d in label.detections)
    assert all(d.cvat_task_id == task_id for d in label.detections)
    gone = digit_boxes[frames[deleted[1]]][naming.label_field(config.name)]
    assert [(d["change"], d["predicted"]) for d in gone.deleted] == [("deleted", deleted[2])]
    counts = doc["ingest"]["boxes"]
    assert counts["moved"] >= 1 and counts["added"] == 1 and counts["deleted"] == 1
    (unresolved,) = doc["ingest"]["unresolved"]
    assert unresolved["sample_id"] == frames[tagged] and "image-level tag" in unresolved["reason"]
    assert doc["metrics"]["labelled"] == 24 and "mAP" in doc["metrics"]
