"""Boxes to CVAT rectangles and back: pixel points, cvat-sdk's own model validation, and what
an annotator did to each box."""

from __future__ import annotations

import pytest
from cvat_sdk.api_client import models

from alflow.backends.base import Answer, Unresolved
from alflow.backends.cvat.mapping import JobSpan
from alflow.backends.cvat.rectangles import Shape, frame_answer, prefill_shapes, resolve_shapes
from alflow.errors import BackendError

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
    assert isinstance(answer, Answer) and answer.label is None
    assert [b.label for b in answer.boxes] == ["3", "6", "1"]
    assert answer.boxes[0].box == pytest.approx((0.12, 0.2, 0.3, 0.4))
    provenance = [b.provenance for b in answer.boxes]
    assert [(p["change"], p["predicted"]) for p in provenance] == [
        ("moved", "3"),
        ("relabelled", "5"),
        ("added", None),
    ]
    assert provenance[1]["cvat_source"] == "auto"
    assert {p["cvat_task_id"] for p in provenance} == {7}
    assert answer.provenance == {
        "source": "cvat",
        "cvat_task_id": 7,
        "cvat_job_id": 70,
        "cvat_frame": 0,
        "changed": True,
    }
    assert [(d["change"], d["predicted"]) for d in answer.deleted] == [("deleted", "8")]
    assert answer.deleted[0]["box"] == pytest.approx([0.0, 0.0, 0.1, 0.1])


def test_an_untouched_frame_keeps_every_box_and_an_emptied_one_deletes_them_all():
    kept = frame_answer(
        7, 70, 0, "s0", [_shape([20, 20, 80, 60], "3")], (200, 100), PREFILL[:1], 0.5
    )
    assert [b.provenance["change"] for b in kept.boxes] == ["kept"]
    emptied = frame_answer(7, 70, 0, "s0", [], (200, 100), PREFILL, 0.5)
    assert emptied.boxes == () and len(emptied.deleted) == 3


@pytest.mark.parametrize(
    ("shapes", "marks", "reason"),
    [
        ([_shape([1, 1, 5, 1, 5, 5], "3", type_="polygon")], {}, "polygon shapes"),
        ([_shape([1, 1, 5, 5], None)], {}, "label id 1, unknown"),
        ([], {"tracked": True}, "has a track"),
        ([_shape([1, 1, 5, 5], "3")], {"tagged": True}, "image-level tag"),
    ],
)
def test_a_frame_with_other_shapes_goes_back_to_the_pool_with_one_line(shapes, marks, reason):
    answer = frame_answer(7, 70, 3, "s9", shapes, (64, 64), [], 0.5, **marks)
    assert isinstance(answer, Unresolved) and answer.sample_id == "s9"
    assert reason in answer.reason and "CVAT task 7 job 70 frame 3 (sample s9)" in answer.reason


def _ref(**extra):
    return {
        "task_id": 7,
        "frames": ["s0", "s1", "s2"],
        "sizes": [[200, 100], [64, 64], [64, 64]],
        "prefill": [PREFILL, None, []],
        "classes": ["1", "3", "5", "6", "8"],
        **extra,
    }


def test_a_round_s_shapes_become_answers_pending_and_unresolved_samples_by_frame():
    jobs = [JobSpan(70, 0, 1, True), JobSpan(71, 2, 2, False)]
    shapes = [
        _shape([20, 20, 80, 60], "3"),
        _shape([1, 1, 5, 1, 5, 5], "3", frame=1, type_="polygon"),
        _shape([1, 1, 9, 9], "5", frame=2),
    ]
    collected = resolve_shapes(_ref(), jobs, shapes)
    (answer,) = collected.answers
    assert answer.sample_id == "s0"
    assert [b.provenance["change"] for b in answer.boxes] == ["kept"]
    assert [d["predicted"] for d in answer.deleted] == ["5", "8"]
    assert [u.sample_id for u in collected.unresolved] == ["s1"]
    assert "polygon" in collected.unresolved[0].reason
    assert collected.pending == ("s2",)


def test_a_box_of_a_class_the_loop_does_not_know_follows_the_unknown_labels_rule():
    jobs = [JobSpan(70, 0, 2, True)]
    shapes = [_shape([1, 1, 9, 9], "7", frame=2)]
    ref = _ref(classes=["3", "5", "8"])
    with pytest.raises(BackendError, match=r"job 70 frame 2 \(sample s2\).*'7'.*new_class"):
        resolve_shapes(ref, jobs, shapes)
    collected = resolve_shapes(ref, jobs, shapes, unknown_labels="new_class")
    answer = next(a for a in collected.answers if a.sample_id == "s2")
    assert [(b.label, b.provenance["change"]) for b in answer.boxes] == [("7", "added")]


def test_a_tracked_frame_of_a_round_is_unresolved_and_the_others_answered():
    collected = resolve_shapes(_ref(), [JobSpan(70, 0, 2, True)], [], tracked={1})
    assert [u.sample_id for u in collected.unresolved] == ["s1"]
    assert [a.sample_id for a in collected.answers] == ["s0", "s2"]


def test_a_tagged_frame_of_a_round_is_unresolved_and_the_others_answered():
    collected = resolve_shapes(_ref(), [JobSpan(70, 0, 2, True)], [], tagged={2})
    assert [u.sample_id for u in collected.unresolved] == ["s2"]
    assert "image-level tag" in collected.unresolved[0].reason
    assert [a.sample_id for a in collected.answers] == ["s0", "s1"]
