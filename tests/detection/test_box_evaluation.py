"""A round's predicted boxes as written in bulk (plain Mongo documents, no FiftyOne label
objects) and their mAP from a single ``evaluate_detections``: FiftyOne must read the documents
as the Detections it would have written, and mAP@.5 must be the one FiftyOne computes."""

from __future__ import annotations

import numpy as np
import pytest

from alflow.data import bulk_writes
from alflow.data import detections as dets
from alflow.learning import box_evaluation
from tests.helpers import unique_name

PRED = "predicted"


def _without_ids(document: dict) -> dict:
    boxes = [{k: v for k, v in dict(b).items() if k != "_id"} for b in document["detections"]]
    return {**document, "detections": boxes}


def test_a_detections_document_is_what_fiftyone_stores_for_the_same_boxes():
    boxes = [([0.1, 0.2, 0.3, 0.4], "3", {"confidence": 0.75}), ([0, 0, 1, 1], "7", {})]
    built = dets.detections_document(boxes, round=4)
    stored = dict(dets.detections(boxes, round=4).to_mongo())
    assert _without_ids(built) == _without_ids(stored)
    ids = [b["_id"] for b in built["detections"]]
    assert len(set(ids)) == 2


def _perturbed(truth, rng) -> list[tuple]:
    """A plausible detector's boxes for one image: some moved, some relabelled, some missed,
    one spurious box, each with a random confidence."""
    found = []
    for box, label in truth:
        if rng.random() < 0.15:
            continue
        shift = rng.normal(0, 0.03, 2) * box[2:]
        moved = [box[0] + shift[0], box[1] + shift[1], box[2], box[3]]
        label = str(rng.integers(10)) if rng.random() < 0.2 else label
        found.append((moved, label, {"confidence": float(rng.uniform(0.2, 1.0))}))
    found.append(([0.8, 0.8, 0.1, 0.1], "1", {"confidence": float(rng.uniform(0, 0.5))}))
    return found


@pytest.fixture
def predicted(digit_boxes):
    """40 canvases with perturbed ground truth written as raw documents in ``predicted``."""
    dataset = digit_boxes.limit(40).clone(unique_name("box-eval"))
    rng = np.random.default_rng(0)
    ids = dataset.values("id")
    truths = dataset.values("ground_truth")
    documents = {
        sid: dets.detections_document(
            _perturbed([(d.bounding_box, d.label) for d in t.detections], rng), round=2
        )
        for sid, t in zip(ids, truths, strict=True)
    }
    written = bulk_writes.write_detections_documents(dataset, PRED, documents)
    yield dataset, documents, written
    dataset.delete()


def test_fiftyone_reads_the_raw_documents_as_detections(predicted):
    dataset, documents, written = predicted
    assert written == len(documents) == 40
    assert dets.label_type(dataset, PRED) == "Detections"
    schema = dataset.get_field_schema(flat=True)
    assert f"{PRED}.detections.confidence" in schema
    for sample in dataset.select(list(documents)[1:4]):
        want = documents[sample.id]
        got = sample[PRED]
        assert got.round == 2
        assert [d.id for d in got.detections] == [str(b["_id"]) for b in want["detections"]]
        assert [d.label for d in got.detections] == [b["label"] for b in want["detections"]]
        for d, b in zip(got.detections, want["detections"], strict=True):
            assert d.confidence == pytest.approx(b["confidence"])
            np.testing.assert_allclose(d.bounding_box, b["bounding_box"])


def test_one_evaluation_gives_fiftyones_map_and_map_at_half(predicted):
    dataset, _, _ = predicted
    m, m50 = box_evaluation.mean_average_precision(dataset, PRED, "ground_truth")
    coco = dataset.evaluate_detections(PRED, gt_field="ground_truth", compute_mAP=True)
    half = dataset.evaluate_detections(
        PRED, gt_field="ground_truth", compute_mAP=True, iou_threshs=[0.5]
    )
    assert m == pytest.approx(coco.mAP())
    assert m50 == pytest.approx(half.mAP())
    assert 0 < m < m50 < 1


def test_an_iou_the_evaluation_did_not_use_is_refused(predicted):
    dataset, _, _ = predicted
    coco = dataset.evaluate_detections(PRED, gt_field="ground_truth", compute_mAP=True)
    with pytest.raises(ValueError, match="0.42"):
        box_evaluation.at_iou(coco, 0.42)
