"""Boxes to CVAT rectangles and back: pixel points, cvat-sdk's own model validation, and what
an annotator did to each box."""

from __future__ import annotations

import pytest
from cvat_sdk.api_client import models

from alflow.backends.base import Unresolved
from alflow.backends.cvat.rectangles import BoxAnswer, Shape, frame_answer, prefill_shapes

PREFILL = [([0.1, 0.2, 0.3, 0.4], "3"), ([0.6, 0.6, 0.2, 0.2], "5"), ([0.0, 0.0, 0.1, 0.1], "8")]


def test_prefilled_rectangles_carry_pixel_corners_and_pass_cvat_sdk_validation():
    shapes = prefill_shapes([PREFILL, []], [(200, 100), (64, 64)], {"3": 11, "5": 12})
    assert [s["points"] for s in shapes] == [
        pytest.approx([20, 20, 80, 60]),  # x 0.1..0.4 of 200 px, y 0.2..0.6 of 100 px
        pytest.approx([120, 60, 160, 80]),
    ]  # '8' has no label in the task: not pre-filled
    assert [(s["frame"], s["label_id"]) for s in shapes] == [(0, 11), (0, 12)]
    requests = [models.LabeledShapeRequest(**s) for s in shapes]
    assert models.LabeledDataRequest(shapes=requests).shapes[0].type.value == "rectangle"


def _shape(points, label, frame=0, type_="rectangle", source="manual"):
    return Shape(frame, type_, tuple(points), label, 1, source)


def test_a_moved_a_relabelled_a_deleted_and_an_added_box_are_named_with_their_provenance():
    shapes = [
        _shape([24, 20, 84, 60], "3"),  # moved 4 px right: IoU 56/64 of the pre-fill
        _shape([120, 60, 160, 80], "6", source="auto"),  # the pre-filled '5', relabelled
        _shape([150, 5, 190, 30], "1"),  # drawn new
    ]  # the pre-filled '8' was deleted
    answer = frame_answer(7, 70, 0, "s0", shapes, (200, 100), PREFILL, match_iou=0.5)
    assert isinstance(answer, BoxAnswer)
    assert answer.labels == ("3", "6", "1")
    assert answer.boxes[0] == pytest.approx((0.12, 0.2, 0.3, 0.4))
    assert [(p["change"], p["predicted"]) for p in answer.provenance] == [
        ("moved", "3"),
        ("relabelled", "5"),
        ("added", None),
    ]
    assert answer.provenance[1]["cvat_source"] == "auto"
    assert {p["cvat_task_id"] for p in answer.provenance} == {7}
    assert [(d["change"], d["predicted"]) for d in answer.deleted] == [("deleted", "8")]
    assert answer.deleted[0]["box"] == pytest.approx([0.0, 0.0, 0.1, 0.1])


def test_an_untouched_frame_keeps_every_box_and_an_emptied_one_deletes_them_all():
    kept = frame_answer(
        7, 70, 0, "s0", [_shape([20, 20, 80, 60], "3")], (200, 100), PREFILL[:1], 0.5
    )
    assert [p["change"] for p in kept.provenance] == ["kept"]
    emptied = frame_answer(7, 70, 0, "s0", [], (200, 100), PREFILL, 0.5)
    assert emptied.boxes == () and len(emptied.deleted) == 3


@pytest.mark.parametrize(
    ("shapes", "tracked", "reason"),
    [
        ([_shape([1, 1, 5, 1, 5, 5], "3", type_="polygon")], False, "polygon shapes"),
        ([_shape([1, 1, 5, 5], None)], False, "label id 1, unknown"),
        ([], True, "has a track"),
    ],
)
def test_a_frame_with_other_shapes_goes_back_to_the_pool_with_one_line(shapes, tracked, reason):
    answer = frame_answer(7, 70, 3, "s9", shapes, (64, 64), [], 0.5, tracked=tracked)
    assert isinstance(answer, Unresolved) and answer.sample_id == "s9"
    assert reason in answer.reason and "CVAT task 7 job 70 frame 3 (sample s9)" in answer.reason
