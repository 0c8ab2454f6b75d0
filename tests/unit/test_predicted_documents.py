"""A round's predicted Detections built column-wise are the documents built box by box."""

from __future__ import annotations

import numpy as np
from bson import ObjectId

from alflow.data import detections as dets


def _columns(rng, n_boxes: int, n_images: int):
    sample = rng.integers(0, n_images, n_boxes)
    boxes = rng.uniform(0, 0.5, size=(n_boxes, 4)).astype(np.float32)
    labels = rng.choice(np.array(["cat", "dog", "7"]), n_boxes)
    confidence = rng.uniform(0, 1, n_boxes)
    return sample, boxes, labels, confidence


def _without_ids(document):
    return {**document, "detections": [{**d, "_id": None} for d in document["detections"]]}


def test_every_image_gets_its_own_boxes_in_order_and_the_empty_ones_an_empty_label():
    rng = np.random.default_rng(3)
    sample, boxes, labels, confidence = _columns(rng, 40, 13)
    found = list(dets.predicted_documents(sample, boxes, labels, confidence, 13, part=4, round=2))
    assert [row for row, _ in found] == list(range(13))
    for row, document in found:
        mine = np.flatnonzero(sample == row)
        expected = dets.detections_document(
            ((boxes[i], labels[i], {"confidence": float(confidence[i])}) for i in mine),
            round=2,
        )
        assert _without_ids(document) == _without_ids(expected)


def test_an_image_without_boxes_is_written_an_empty_detections():
    sample, boxes, labels, confidence = np.array([2]), np.zeros((1, 4)), np.array(["a"]), [0.5]
    found = dict(dets.predicted_documents(sample, boxes, labels, np.array(confidence), 3))
    assert found[0]["detections"] == found[1]["detections"] == []
    assert [d["label"] for d in found[2]["detections"]] == ["a"]


def test_values_are_plain_python_and_every_box_has_a_fresh_id():
    rng = np.random.default_rng(5)
    found = list(dets.predicted_documents(*_columns(rng, 500, 50), 50, part=7))
    boxes = [d for _, doc in found for d in doc["detections"]]
    assert len({d["_id"] for d in boxes}) == len(boxes) == 500
    assert all(isinstance(d["_id"], ObjectId) for d in boxes)
    box = boxes[0]
    assert type(box["label"]) is str and type(box["confidence"]) is float
    assert all(type(v) is float for v in box["bounding_box"])
