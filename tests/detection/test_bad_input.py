"""Bad input to a detection loop: one line naming the field, the sample and the fix, and
nothing written."""

from __future__ import annotations

import fiftyone as fo
import pytest

from alflow import rounds
from alflow.errors import AlflowError, DatasetError, LabelError
from alflow.loop.workspace import open_workspace
from alflow.rounds import detection
from tests.helpers import unique_name


def refused(config, error: type[AlflowError]) -> str:
    ws = open_workspace()
    with pytest.raises(error) as caught:
        rounds.register_loop(ws, config)
    assert not ws.ledger.loop_exists(config.name), "a refused loop must leave no record"
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_classification_field_is_refused_with_its_name_and_type(digit_boxes, boxes_config):
    field = "one_class"
    if field not in digit_boxes.get_field_schema():
        first = digit_boxes.limit(3)
        first.set_values(field, [fo.Classification(label="3")] * 3)
    message = refused(boxes_config(initial_labels={"kind": "field", "field": field}), DatasetError)
    assert f"'{field}'" in message and "Classification" in message and "Detections" in message


def test_a_box_outside_the_image_is_refused_naming_its_sample(digit_boxes, boxes_config):
    field = "bad_boxes"
    sample = digit_boxes.first()
    if field not in digit_boxes.get_field_schema():
        digit_boxes.select(sample.id).set_values(
            field,
            [
                fo.Detections(
                    detections=[fo.Detection(label="1", bounding_box=[0.8, 0.8, 0.5, 0.1])]
                )
            ],
        )
    message = refused(boxes_config(initial_labels={"kind": "field", "field": field}), LabelError)
    assert sample.id in message and f"'{field}'" in message
    assert "inside the image" in message


def test_a_missing_proposals_field_is_refused(boxes_config):
    config = boxes_config(detection={"proposals": {"field": "no_such_boxes"}})
    assert "no_such_boxes" in refused(config, DatasetError)


def test_an_image_without_a_size_that_cannot_be_read_is_refused_with_its_id(digit_boxes):
    clone = digit_boxes.limit(3).clone(unique_name("no-size"))
    try:
        broken = clone.first()
        broken.metadata = None
        broken.filepath = "/nonexistent/canvas.png"
        broken.save()
        with pytest.raises(DatasetError) as caught:
            detection.image_sizes(clone, clone.values("id"))
        assert broken.id in str(caught.value) and "\n" not in str(caught.value)
        kept = clone.skip(1).first()
        kept.metadata = None
        kept.save()
        sizes = detection.image_sizes(clone, [kept.id])  # computed from the image
        assert sizes == {kept.id: (64, 64)}
    finally:
        clone.delete()
